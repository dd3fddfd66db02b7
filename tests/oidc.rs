//! The broker without a stored secret: `RUNKEY_OIDC_JWT` and `RUNKEY_OIDC_AUDIENCE` only,
//! exchanged at the server's own token endpoint for the broker's access token. The access
//! token is what reaches the API, the JWT is sent to the token endpoint alone, and neither
//! reaches an output line, a child's environment or an argv. Each refusal is one line with
//! its fix.

use jiff::SignedDuration;
use octopus_sim::{JwtVariant, RequestRecord};
use serde_json::{Value, json};

use crate::support::*;

/// What a Generic OIDC account's JWT holds as subject in a runbook run.
const SUBJECT: &str = "space:default:project:ops:runbook:restart-web:environment:production";

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// The broker's OIDC identity trusting the space's subjects; (audience, a fresh JWT).
fn trust(f: &Fixture) -> (String, String) {
    trust_oidc(f, SUBJECT)
}

/// `create_env` with the OIDC pair in place of the broker's key.
fn oidc_env(f: &Fixture, task: &str, jwt: &str, audience: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = create_env(f, task)
        .into_iter()
        .filter(|(name, _)| *name != "OCTOPUS_API_KEY")
        .collect();
    env.push(("RUNKEY_OIDC_JWT", jwt.to_string()));
    env.push(("RUNKEY_OIDC_AUDIENCE", audience.to_string()));
    env
}

/// The binary with the server and the OIDC pair only (list, sweep, audit).
fn as_oidc_broker(f: &Fixture, args: &[&str], jwt: &str, audience: &str) -> Run {
    runkey(args)
        .env("OCTOPUS_URL", f.sim.url())
        .env("RUNKEY_OIDC_JWT", jwt)
        .env("RUNKEY_OIDC_AUDIENCE", audience)
}

fn header<'a>(request: &'a RequestRecord, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn is_exchange(request: &RequestRecord) -> bool {
    request.method == "POST" && request.target.starts_with("/api/token/v1")
}

/// Of the requests octopus-runkey itself made (not a child's, which send a run key with
/// curl's User-Agent): discovery and the exchange were anonymous, the JWT went to the token
/// endpoint only, and every other request carried one of the access tokens the server
/// issued to the broker, and never an API key. Returns how many exchanges there were.
#[track_caller]
fn only_the_access_token_reached_the_api(f: &Fixture, jwt: &str) -> usize {
    let tokens = f.sim.access_tokens(&f.broker_id);
    let requests: Vec<RequestRecord> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| !header(r, "User-Agent").unwrap_or("").starts_with("curl/"))
        .collect();
    assert!(!requests.is_empty());
    for request in &requests {
        let line = format!("{} {}", request.method, request.target);
        let anonymous = is_exchange(request) || request.target.starts_with("/.well-known/");
        if anonymous {
            assert!(header(request, "Authorization").is_none(), "{line}");
        } else {
            let bearer = header(request, "Authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_else(|| panic!("no bearer token on {line}"));
            assert!(tokens.iter().any(|t| t == bearer), "{line}: {bearer}");
        }
        assert!(header(request, "X-Octopus-ApiKey").is_none(), "{line}");
        if !is_exchange(request) {
            assert!(!request.target.contains(jwt), "{line}");
            assert!(!request.body.contains(jwt), "{line}");
        }
        assert!(
            !request.headers.iter().any(|(_, v)| v.contains(jwt)),
            "the JWT in a header of {line}"
        );
    }
    let exchanges: Vec<&RequestRecord> = requests.iter().filter(|r| is_exchange(r)).collect();
    for exchange in &exchanges {
        assert!(
            exchange.body.contains("subject_token="),
            "{}",
            exchange.body
        );
    }
    exchanges.len()
}

#[test]
fn create_with_only_an_oidc_jwt_makes_a_key_of_the_broker_through_the_access_token() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-301", &jwt, &audience))
        .run();
    out.code(0);
    let keys = runkey_keys(&f);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].user_id, f.broker_id, "the key is the broker's");
    assert_eq!(out.var("ApiKeyOwnerId"), f.broker_id);
    assert!(
        keys[0]
            .purpose
            .starts_with("Jane Doe (jane.doe) ran 'Restart web'")
    );
    assert_eq!(only_the_access_token_reached_the_api(&f, &jwt), 1);
    let tokens = f.sim.access_tokens(&f.broker_id);
    assert_eq!(tokens.len(), 1);
    out.never_shows(&jwt).never_shows(&tokens[0]);
    // The exchange and the reads changed nothing; the key's creation is the one event, made
    // by the broker with its access token.
    let audit = f.sim.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].user_id, f.broker_id);
    assert_eq!(
        audit[0].identity_established_with,
        "OpenID Connect access token"
    );
    assert_eq!(audit[0].api_key_id, None);
}

/// Runs exec with the OIDC pair; its child dumps its environment and the argv of itself
/// and its parent, then disables the deployment target with the run key. Returns the run's
/// output, the child's environment and the argv lines.
fn exec_a_child_that_dumps_and_disables(
    f: &Fixture,
    task: &str,
    jwt: &str,
    audience: &str,
) -> (Out, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let env_dump = dir.path().join("env");
    let argv_dump = dir.path().join("argv");
    let script = format!(
        "env > \"$ENV_DUMP\"; tr '\\0' ' ' < /proc/$$/cmdline > \"$ARGV_DUMP\"; \
         tr '\\0' ' ' < /proc/$PPID/cmdline >> \"$ARGV_DUMP\"; \
         curl -sf -X PUT -H \"X-Octopus-ApiKey: $OCTOPUS_API_KEY\" -H 'Content-Type: application/json' \
         -d '{{\"Id\":\"{id}\",\"IsDisabled\":true}}' \"$OCTOPUS_URL/api/Spaces-1/machines/{id}\" > /dev/null",
        id = f.machine_id
    );
    let out = runkey(&["exec", "--", "sh", "-c", &script])
        .envs(oidc_env(f, task, jwt, audience))
        .env("ENV_DUMP", &env_dump)
        .env("ARGV_DUMP", &argv_dump)
        .run();
    let child_env = std::fs::read_to_string(&env_dump).unwrap_or_default();
    let argv = std::fs::read_to_string(&argv_dump).unwrap_or_default();
    (out, child_env, argv)
}

#[test]
fn exec_with_an_oidc_jwt_hands_the_child_the_run_key_and_not_the_access_token() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    let (out, child_env, argv) =
        exec_a_child_that_dumps_and_disables(&f, "ServerTasks-302", &jwt, &audience);
    out.code(0);
    let tokens = f.sim.access_tokens(&f.broker_id);
    assert_eq!(tokens.len(), 1);
    out.never_shows(&jwt).never_shows(&tokens[0]);
    assert!(argv.contains("exec -- sh -c"), "the parent's argv: {argv}");
    assert!(!argv.contains(&jwt), "the JWT in an argv: {argv}");
    assert!(!argv.contains(&tokens[0]), "the access token in an argv");
    assert!(
        !child_env.contains(&tokens[0]),
        "the access token in the child's environment"
    );
    assert!(child_env.contains("OCTOPUS_API_KEY=API-"), "{child_env}");
    // The child's change was made, and audited as the broker's with the run key's purpose.
    assert!(f.sim.machine(&f.machine_id).unwrap().is_disabled);
    let disabled = f
        .sim
        .audit()
        .into_iter()
        .find(|e| e.message == "Deployment target web-01 was disabled")
        .expect("the change is audited");
    assert_eq!(disabled.user_id, f.broker_id);
    assert!(
        disabled
            .identity_established_with
            .contains("Jane Doe (jane.doe) ran 'Restart web'"),
        "{}",
        disabled.identity_established_with
    );
    assert!(runkey_keys(&f).is_empty(), "the run key was revoked");
    seeded_keys_survive(&f);
    assert_eq!(only_the_access_token_reached_the_api(&f, &jwt), 1);
}

#[test]
fn exec_keeps_the_jwt_out_of_the_childs_environment() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    let (out, child_env, _) =
        exec_a_child_that_dumps_and_disables(&f, "ServerTasks-304", &jwt, &audience);
    out.code(0);
    assert!(
        !child_env.contains(&jwt),
        "the JWT in the child's environment"
    );
    assert!(!child_env.contains("RUNKEY_OIDC_"), "{child_env}");
}

#[test]
fn list_and_sweep_run_with_an_oidc_jwt() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    let (old, _) = f.sim.add_old_api_key(
        &f.broker_id,
        "Jane Doe (jane.doe) ran 'x' [runkey ServerTasks-303/abcdef12]",
        SignedDuration::from_hours(48),
        None,
    );
    let out = as_oidc_broker(&f, &["list", "--json"], &jwt, &audience).run();
    out.code(0).never_shows(&jwt);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        rows.iter().any(|r| r["Id"] == old.as_str()),
        "{}",
        out.stdout
    );
    let out = as_oidc_broker(&f, &["revoke", "--sweep"], &jwt, &audience).run();
    out.code(0).never_shows(&jwt);
    assert!(f.sim.keys(&f.broker_id).iter().all(|k| k.id != old));
    seeded_keys_survive(&f);
    assert_eq!(only_the_access_token_reached_the_api(&f, &jwt), 2);
    for token in f.sim.access_tokens(&f.broker_id) {
        out.never_shows(&token);
    }
}

/// Runs create with `jwt` and `audience` and asserts one error line with `texts`, exit 1,
/// and no key made.
#[track_caller]
fn refused(f: &Fixture, jwt: &str, audience: &str, texts: &[&str]) {
    let out = runkey(&["create"])
        .envs(oidc_env(f, "ServerTasks-310", jwt, audience))
        .run();
    out.code(1).one_error_line(texts).never_shows(jwt);
    assert!(runkey_keys(f).is_empty());
    assert!(f.sim.access_tokens(&f.broker_id).is_empty());
}

#[test]
fn a_subject_the_identity_does_not_match_names_the_subject_and_the_fix() {
    let f = Fixture::new();
    let audience = f
        .sim
        .add_oidc_identity(&f.broker_id, "space:default:project:web:*");
    let jwt = f.sim.oidc_jwt(SUBJECT, &audience, minutes(10));
    refused(
        &f,
        &jwt,
        &audience,
        &[
            "refused to exchange the OIDC token",
            SUBJECT,
            "OIDC identity",
            &f.sim.oidc_issuer(),
        ],
    );
}

#[test]
fn subjects_match_case_sensitively() {
    let f = Fixture::new();
    let audience = f.sim.add_oidc_identity(&f.broker_id, "space:Default:*");
    let jwt = f.sim.oidc_jwt(SUBJECT, &audience, minutes(10));
    refused(&f, &jwt, &audience, &["refused", SUBJECT]);
}

#[test]
fn the_service_account_id_is_not_the_audience() {
    let f = Fixture::new();
    let (_, _) = trust(&f);
    // The mistake the docs warn of: Users-N where the external id (a GUID) belongs, in the
    // account's Audience and so in the JWT.
    let jwt = f.sim.oidc_jwt(SUBJECT, &f.broker_id, minutes(10));
    refused(
        &f,
        &jwt,
        &f.broker_id,
        &[
            "refused",
            &format!("RUNKEY_OIDC_AUDIENCE ('{}')", f.broker_id),
            "GUID",
            "'Users-N' is the account's id, not its audience",
        ],
    );
}

#[test]
fn a_jwt_for_another_audience_than_the_one_asked_for_is_refused() {
    let f = Fixture::new();
    let (audience, _) = trust(&f);
    let jwt = f.sim.oidc_jwt(SUBJECT, "api://default", minutes(10));
    refused(&f, &jwt, &audience, &["refused", "audience"]);
}

#[test]
fn an_expired_jwt_says_so_before_any_request() {
    let f = Fixture::new();
    let (audience, _) = trust(&f);
    let jwt = f.sim.oidc_jwt(SUBJECT, &audience, minutes(-5));
    f.sim.expect_no_requests();
    refused(&f, &jwt, &audience, &["expired", "OpenIdConnect.Jwt"]);
}

#[test]
fn a_jwt_the_server_finds_expired_is_refused_with_the_servers_reason() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    // The worker's clock is behind the server's: the client cannot tell, the server can.
    f.sim.advance_clock(minutes(15));
    refused(
        &f,
        &jwt,
        &audience,
        &["refused", "expired", "check the worker's clock"],
    );
}

#[test]
fn a_jwt_signed_by_another_key_is_refused() {
    let f = Fixture::new();
    let (audience, _) = trust(&f);
    let jwt = f
        .sim
        .oidc_jwt_with(JwtVariant::OtherKey, SUBJECT, &audience, minutes(10));
    refused(
        &f,
        &jwt,
        &audience,
        &["refused", "signature", "must be this server's own"],
    );
}

#[test]
fn a_jwt_of_another_issuer_is_refused() {
    let f = Fixture::new();
    let (audience, _) = trust(&f);
    let other = "https://token.actions.githubusercontent.com";
    let jwt = f.sim.oidc_jwt_with(
        JwtVariant::OtherIssuer(other.into()),
        SUBJECT,
        &audience,
        minutes(10),
    );
    refused(&f, &jwt, &audience, &["refused", other]);
}

#[test]
fn a_server_without_discovery_says_to_use_an_api_key() {
    let f = Fixture::with_options(Options {
        oidc_discovery: false,
        ..Options::default()
    });
    let (audience, jwt) = trust(&f);
    refused(
        &f,
        &jwt,
        &audience,
        &[
            "no OpenID Connect discovery document",
            "2025.1",
            "OCTOPUS_API_KEY",
        ],
    );
}

#[test]
fn a_failing_discovery_document_is_the_servers_failure_not_an_old_server() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    f.sim.inject(
        Fault::new(
            "GET",
            "/.well-known/openid-configuration",
            FaultKind::status(500),
        )
        .times(5),
    );
    refused(
        &f,
        &jwt,
        &audience,
        &[
            "reading the server's OpenID Connect discovery document",
            "500",
        ],
    );
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-310", &jwt, &audience))
        .run();
    out.code(0);
}

#[test]
fn a_malformed_jwt_or_a_missing_audience_is_a_usage_error() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    f.sim.expect_no_requests();
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-311", "not-a-jwt", &audience))
        .run();
    out.code(2)
        .one_error_line(&["RUNKEY_OIDC_JWT", "OpenIdConnect.Jwt"]);
    let out = runkey(&["create"])
        .envs(
            oidc_env(&f, "ServerTasks-311", &jwt, "")
                .into_iter()
                .filter(|(name, _)| *name != "RUNKEY_OIDC_AUDIENCE"),
        )
        .run();
    out.code(2)
        .one_error_line(&["RUNKEY_OIDC_AUDIENCE", "Audience"])
        .never_shows(&jwt);
}

#[test]
fn a_server_that_lets_no_access_token_create_keys_is_one_line_saying_to_use_an_api_key() {
    let f = Fixture::with_options(Options {
        access_tokens_create_keys: false,
        ..Options::default()
    });
    let (audience, jwt) = trust(&f);
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-312", &jwt, &audience))
        .run();
    out.code(1)
        .one_error_line(&["access token", "API key", "OCTOPUS_API_KEY"])
        .never_shows(&jwt);
    assert!(runkey_keys(&f).is_empty());
    // exec stops before its child.
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let out = runkey(&["exec", "--", "touch", ran.to_str().unwrap()])
        .envs(oidc_env(&f, "ServerTasks-312", &jwt, &audience))
        .run();
    out.code(1).one_error_line(&["OCTOPUS_API_KEY"]);
    assert!(!ran.exists(), "the child ran without a run key");
    // The same server with the switch the other way: the key is made.
    f.sim.set_options(|o| o.access_tokens_create_keys = true);
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-312", &jwt, &audience))
        .run();
    out.code(0);
    assert_eq!(runkey_keys(&f).len(), 1);
}

// The simulator's side, spoken to directly.

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(
    f: &Fixture,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", f.sim.url());
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => {
            let mut request = agent.get(&url);
            if let Some(key) = key {
                request = request.header("X-Octopus-ApiKey", key);
            }
            request.call()
        }
        (_, body) => {
            let mut request = agent.post(&url);
            if let Some(key) = key {
                request = request.header("X-Octopus-ApiKey", key);
            }
            request
                .content_type("application/json")
                .send(body.unwrap_or(Value::Null).to_string())
        }
    }
    .expect("the simulator answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn the_simulator_publishes_discovery_and_a_jwks_anonymously() {
    let f = Fixture::new();
    let (status, discovery) = call(&f, "GET", "/.well-known/openid-configuration", None, None);
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], f.sim.url());
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/api/token/v1", f.sim.url())
    );
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let path = jwks_uri.strip_prefix(&f.sim.url()).unwrap();
    let (status, jwks) = call(&f, "GET", path, None, None);
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("EC"), &json!("P-256"), &json!("ES256"))
    );
    assert!(key["x"].is_string() && key["y"].is_string() && key["kid"].is_string());
    assert!(f.sim.audit().is_empty(), "reads are not audited");
}

#[test]
fn the_token_endpoint_takes_json_too_and_issues_an_hours_bearer_token() {
    let f = Fixture::new();
    let (audience, jwt) = trust(&f);
    let body = json!({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "subject_token": jwt,
    });
    let (status, answer) = call(&f, "POST", "/api/token/v1", None, Some(body.clone()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(answer["expires_in"], 3600);
    let token = answer["access_token"].as_str().unwrap().to_string();
    let mut me = agent()
        .get(&format!("{}/api/users/me", f.sim.url()))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let me: Value = serde_json::from_str(&me.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(me["Id"], f.broker_id.as_str());
    // One hour later the token is dead.
    f.sim.advance_clock(SignedDuration::from_mins(61));
    let status = agent()
        .get(&format!("{}/api/users/me", f.sim.url()))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 401);
    // A wrong grant type is Octopus's OAuth refusal.
    let mut wrong = body;
    wrong["grant_type"] = json!("client_credentials");
    let (status, refusal) = call(&f, "POST", "/api/token/v1", None, Some(wrong));
    assert_eq!(status, 400);
    assert_eq!(refusal["error"], "invalid_request");
    assert!(refusal["error_description"].is_string());
    assert!(f.sim.audit().is_empty(), "an exchange is not a change");
}

#[test]
fn question_marks_match_one_character_and_disabled_accounts_get_no_token() {
    let f = Fixture::new();
    let audience = f.sim.add_oidc_identity(
        &f.broker_id,
        "space:default:project:ops:runbook:restart-we?:environment:*",
    );
    let exchange = |jwt: &str| {
        call(
            &f,
            "POST",
            "/api/token/v1",
            None,
            Some(json!({
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "audience": audience,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "subject_token": jwt,
            })),
        )
        .0
    };
    assert_eq!(
        exchange(&f.sim.oidc_jwt(SUBJECT, &audience, minutes(5))),
        200
    );
    let longer = SUBJECT.replace("restart-web", "restart-webs");
    assert_eq!(
        exchange(&f.sim.oidc_jwt(&longer, &audience, minutes(5))),
        400
    );
    f.sim.disable_user(&f.broker_id);
    assert_eq!(
        exchange(&f.sim.oidc_jwt(SUBJECT, &audience, minutes(5))),
        400
    );
}

#[test]
fn oidc_identities_are_listed_with_the_external_id_and_created_by_user_editors() {
    let f = Fixture::new();
    let (_, admin_key) = f.sim.add_api_key(&f.admin_id, "admin", None);
    let path = format!(
        "/api/serviceaccounts/{}/oidcidentities/v1?skip=0&take=0",
        f.broker_id
    );
    let (status, empty) = call(&f, "GET", &path, Some(&admin_key), None);
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["ServerUrl"], f.sim.url());
    assert_eq!(empty["Count"], 0);
    let external_id = empty["ExternalId"].as_str().unwrap().to_string();
    assert_eq!(external_id.len(), 36, "a GUID: {external_id}");
    assert_eq!(external_id, f.sim.external_id(&f.broker_id));
    let create = format!(
        "/api/serviceaccounts/{}/oidcidentities/create/v1",
        f.broker_id
    );
    let body = json!({
        "ServiceAccountId": f.broker_id,
        "Name": "runbooks",
        "Issuer": f.sim.oidc_issuer(),
        "Subject": "space:default:*",
    });
    // The broker may read users but not edit them.
    let (status, refusal) = call(&f, "POST", &create, Some(&f.broker_key), Some(body.clone()));
    assert_eq!(status, 403);
    assert!(
        refusal["ErrorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Missing permission: UserEdit")
    );
    let (status, created) = call(&f, "POST", &create, Some(&admin_key), Some(body));
    assert_eq!(status, 201, "{created}");
    let id = created["Id"].as_str().unwrap();
    let path = format!(
        "/api/serviceaccounts/{}/oidcidentities/v1?skip=0&take=10",
        f.broker_id
    );
    let (_, listed) = call(&f, "GET", &path, Some(&admin_key), None);
    assert_eq!(listed["Count"], 1);
    assert_eq!(listed["ExternalId"], external_id.as_str());
    let identity = &listed["OidcIdentities"][0];
    assert_eq!(identity["Id"], id);
    assert_eq!(identity["Subject"], "space:default:*");
    assert_eq!(identity["ServiceAccountId"], f.broker_id.as_str());
    // A person is not a service account.
    let people = format!(
        "/api/serviceaccounts/{}/oidcidentities/create/v1",
        f.operator_id
    );
    let (status, _) = call(
        &f,
        "POST",
        &people,
        Some(&admin_key),
        Some(json!({"Name": "x", "Issuer": "https://x", "Subject": "*"})),
    );
    assert_eq!(status, 400);
    // The creation is the only audited change, the admin's.
    let audit = f.sim.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].user_id, f.admin_id);
    assert_eq!(audit[0].category, "Created");
    // And the identity works: a JWT for its subject and the GUID gets a token.
    let jwt = f.sim.oidc_jwt(SUBJECT, &external_id, minutes(5));
    let out = runkey(&["create"])
        .envs(oidc_env(&f, "ServerTasks-313", &jwt, &external_id))
        .run();
    out.code(0);
}

// Issue 22, item 9: a run key never outlives the access token that makes it.
#[test]
fn a_run_key_made_with_an_access_token_ends_before_the_token() {
    let f = Fixture::new();
    f.sim.set_options(|o| {
        o.access_token_lifetime = minutes(20);
        o.token_expiry_rule = octopus_sim::TokenExpiryRule::Refuse;
    });
    let (audience, jwt) = trust(&f);
    let out = runkey(&["create", "--ttl", "1h"])
        .envs(oidc_env(&f, "ServerTasks-320", &jwt, &audience))
        .run();
    out.code(0)
        .stdout_contains("before its TTL ends")
        .stdout_contains("the access token from RUNKEY_OIDC_JWT ends at");
    let expires = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%SZ", out.var("ApiKeyExpires"))
        .or_else(|_| out.var("ApiKeyExpires").parse())
        .unwrap();
    let left = expires.duration_since(jiff::Timestamp::now());
    assert!(
        left > minutes(17) && left < minutes(20),
        "ends within the token's 20 minutes: {left:?}"
    );

    // The default 1h TTL with an hour's token ends a minute early, unsaid: every OIDC run
    // would otherwise print it.
    f.sim.set_options(|o| o.access_token_lifetime = minutes(60));
    let out = runkey(&["create", "--ttl", "1h"])
        .envs(oidc_env(&f, "ServerTasks-321", &jwt, &audience))
        .run();
    out.code(0);
    assert!(
        !out.stdout.contains("before its TTL ends"),
        "{}",
        out.stdout
    );
    let expires: jiff::Timestamp = out.var("ApiKeyExpires").parse().unwrap();
    let left = expires.duration_since(jiff::Timestamp::now());
    assert!(
        left > minutes(57) && left < minutes(60),
        "ends within the token's hour: {left:?}"
    );
}
