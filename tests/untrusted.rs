//! Untrusted input: names people typed that hold marker text, a server whose paging links
//! point elsewhere, and a server URL that carries a password. Whatever they hold, create and
//! both kinds of revoke still find exactly this run's key, the credential goes to no other
//! server, and a password in a URL is refused before any request and shown nowhere.

use std::net::TcpListener;

use crate::support::*;

/// Text in a name that imitates the marker: a whole one, and an opening left unclosed.
const MARKER_LIKE: [&str; 2] = ["[runkey ServerTasks-9/abcdef]", "Evil [runkey X"];

/// Every variable whose text lands in the purpose, with the value the usual step has.
const NAME_VARIABLES: [&str; 7] = [
    "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
    "OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME",
    "OCTOPUS_RUNBOOK_NAME",
    "OCTOPUS_PROJECT_NAME",
    "OCTOPUS_ENVIRONMENT_NAME",
    "OCTOPUS_TENANT_NAME",
    "OCTOPUS_SPACE_NAME",
];

/// The usual create step's environment with a project and tenant too, and `name` set to
/// `value`.
fn env_with(f: &Fixture, task: &str, name: &str, value: &str) -> Vec<(&'static str, String)> {
    let mut env = create_env(f, task);
    env.push(("OCTOPUS_PROJECT_NAME", "Web".into()));
    env.push(("OCTOPUS_TENANT_NAME", "Acme".into()));
    env.retain(|(k, _)| *k != name);
    let name = NAME_VARIABLES.into_iter().find(|n| *n == name).unwrap();
    env.push((name, value.to_string()));
    env
}

/// Creates a key for `task` with these variables and checks that its purpose carries the
/// marker once, naming `task`; returns the key's id.
fn create_with(_f: &Fixture, env: Vec<(&'static str, String)>, task: &str, what: &str) -> String {
    let out = runkey(&["create"]).envs(env).run();
    out.code(0);
    let purpose = out.var("ApiKeyPurpose");
    assert_eq!(purpose.matches("[runkey ").count(), 1, "{what}: {purpose}");
    assert_eq!(
        marker(&purpose).map(|(t, _)| t).as_deref(),
        Some(task),
        "{what}: {purpose}"
    );
    out.var("ApiKeyId")
}

/// Asserts that the broker account holds exactly the fixture's three keys.
fn only_the_seeded_keys_are_left(f: &Fixture, what: &str) {
    seeded_keys_survive(f);
    let purposes: Vec<String> = f
        .sim
        .keys(&f.broker_id)
        .into_iter()
        .map(|k| k.purpose)
        .collect();
    assert_eq!(purposes.len(), 3, "{what}: {purposes:?}");
}

#[test]
fn marker_text_in_any_name_leaves_create_and_both_revokes_finding_this_runs_key() {
    for text in MARKER_LIKE {
        for name in NAME_VARIABLES {
            let what = format!("{name}={text:?}");
            let f = Fixture::new();
            let task = "ServerTasks-50";

            let id = create_with(&f, env_with(&f, task, name, text), task, &what);
            let out = as_broker(&f, &["revoke"])
                .env("RUNKEY_API_KEY_ID", &id)
                .env("OCTOPUS_TASK_ID", task)
                .run();
            out.code(0);
            assert!(
                out.stdout.contains(&format!("Revoked run key {id}")),
                "{what}: {}",
                out.stdout
            );
            only_the_seeded_keys_are_left(&f, &what);

            let id = create_with(&f, env_with(&f, task, name, text), task, &what);
            let out = as_broker(&f, &["revoke"])
                .env("OCTOPUS_TASK_ID", task)
                .run();
            out.code(0);
            assert!(
                !f.sim.keys(&f.broker_id).iter().any(|k| k.id == id),
                "{what}: revoke by task left {id}: {}",
                out.stdout
            );
            only_the_seeded_keys_are_left(&f, &what);
        }
    }
}

#[test]
fn an_environment_name_ending_in_runkey_still_lets_revoke_by_task_find_the_key() {
    // With no tenant, project or space, the environment ends the human part: 'Evil [runkey'
    // then meets the marker through the separator space.
    let f = Fixture::new();
    let task = "ServerTasks-51";
    let env: Vec<_> = create_env(&f, task)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("OCTOPUS_SPACE_"))
        .map(|(k, v)| match k {
            "OCTOPUS_ENVIRONMENT_NAME" => (k, "Evil [runkey".to_string()),
            _ => (k, v),
        })
        .collect();
    let id = create_with(&f, env, task, "environment 'Evil [runkey'");
    as_broker(&f, &["revoke"])
        .env("OCTOPUS_TASK_ID", task)
        .run()
        .code(0);
    assert!(!f.sim.keys(&f.broker_id).iter().any(|k| k.id == id));
    only_the_seeded_keys_are_left(&f, "environment 'Evil [runkey'");
}

/// A server elsewhere on loopback that counts who connects to it.
struct OtherServer {
    listener: TcpListener,
}

impl OtherServer {
    fn start() -> OtherServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        OtherServer { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Connections made to it so far (each accepted, then dropped).
    fn connections(&self) -> usize {
        let mut count = 0;
        while self.listener.accept().is_ok() {
            count += 1;
        }
        count
    }
}

/// The broker's real first page of keys, three to a page, with its `Page.Next` replaced.
fn first_page_linking_to(f: &Fixture, next: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!(
            "{}/api/users/{}/apikeys?skip=0&take=3",
            f.sim.url(),
            f.broker_id
        ))
        .header("X-Octopus-ApiKey", &f.broker_key)
        .call()
        .unwrap();
    let mut page: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(
        page["Links"]["Page.Next"].is_string(),
        "the real page has a next"
    );
    page["Links"]["Page.Next"] = serde_json::Value::String(next.to_string());
    page.to_string()
}

#[test]
fn a_paging_link_to_another_server_is_refused_and_nothing_connects_there() {
    let other = OtherServer::start();
    let elsewhere = |f: &Fixture| {
        let path = format!("/api/users/{}/apikeys?skip=3&take=3", f.broker_id);
        let port = other.port();
        [
            ("another port", format!("http://127.0.0.1:{port}{path}")),
            ("another scheme", format!("https://127.0.0.1:{port}{path}")),
            ("protocol-relative", format!("//127.0.0.1:{port}{path}")),
        ]
    };
    for command in [vec!["list", "--json"], vec!["revoke"]] {
        let f = Fixture::with_options(Options {
            max_take: Some(3),
            ..Options::default()
        });
        // Six keys of the broker: the listing needs a second page.
        for task in ["ServerTasks-60", "ServerTasks-61", "ServerTasks-62"] {
            create(&f, task);
        }
        for (what, link) in elsewhere(&f) {
            f.sim.inject(Fault::new(
                "GET",
                "/apikeys",
                FaultKind::Body {
                    status: 200,
                    body: first_page_linking_to(&f, &link),
                },
            ));
            let out = as_broker(&f, &command)
                .env("OCTOPUS_TASK_ID", "ServerTasks-60")
                .run();
            out.code(1).one_error_line(&[
                "Page.Next link points at another server",
                "refusing to send the credential there",
            ]);
            // `list --json` outside Octopus keeps stdout to its JSON: no summary line.
            assert_eq!(
                out.result_message().is_some(),
                command[0] == "revoke",
                "{command:?} {what}"
            );
            assert_eq!(other.connections(), 0, "{command:?} {what}: it connected");
        }
        seeded_keys_survive(&f);
    }
}

#[test]
fn a_password_in_the_server_url_is_refused_before_any_request_and_shown_nowhere() {
    let f = Fixture::new();
    let url = format!("http://jane:hunter2@{}", f.sim.addr());
    let run_key = ("RUNKEY_API_KEY", "API-RUNKEY0000000000000000".to_string());
    let key_id = ("RUNKEY_API_KEY_ID", "apikeys-x".to_string());
    type Command<'a> = (Vec<&'a str>, Vec<(&'a str, String)>);
    let commands: [Command; 5] = [
        (vec!["create"], create_env(&f, "ServerTasks-70")),
        (vec!["exec", "--", "true"], create_env(&f, "ServerTasks-70")),
        (vec!["list"], create_env(&f, "ServerTasks-70")),
        (vec!["revoke"], vec![run_key.clone(), key_id]),
        (vec!["use", "--check", "--", "true"], vec![run_key]),
    ];
    for (args, env) in commands {
        let out = runkey(&args).envs(env).env("OCTOPUS_URL", &url).run();
        out.code(2)
            .one_error_line(&["holds a user name or password: remove it"])
            .never_shows("hunter2");
        let summary = out.result_message().expect("a resultMessage");
        assert!(summary.contains("remove it"), "{args:?}: {summary}");
        assert!(!summary.contains("hunter2"), "{args:?}: {summary}");
    }
    f.sim.expect_no_requests();
}

#[test]
fn a_name_made_only_of_format_characters_counts_as_missing() {
    // The contract: names lose their format characters, and a name left empty counts as
    // missing. The display name is (the purpose says 'jane.doe'), but the runbook is not:
    // today the purpose reads "jane.doe ran '' in Production".
    let f = Fixture::new();
    let out = runkey(&["create"])
        .envs(create_env(&f, "ServerTasks-80"))
        .env(
            "OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME",
            "\u{200B}\u{202E}",
        )
        .env("OCTOPUS_RUNBOOK_NAME", "\u{FEFF}")
        .run();
    out.code(0);
    let purpose = out.var("ApiKeyPurpose");
    assert!(
        purpose.starts_with("jane.doe in Production (space Default) [runkey "),
        "{purpose:?}"
    );
}
