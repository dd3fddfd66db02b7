//! The OIDC steps (`--oidc`): an OIDC identity on the broker trusting the server's own
//! issuer (the `issuer` of its discovery document) for `--oidc-subject` (default
//! `space:<slug>:*`), and the broker's own Generic OIDC account, `Octopus Run Key broker
//! <username>`, whose Audience is the broker's external id, the GUID its tokens must be
//! issued for. A step that uses the account gets a JWT the broker can exchange for an access
//! token: no secret is stored. An account whose audience is another service account's is
//! never re-pointed: every runbook using it would move to this broker's permissions.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::Client;
use crate::octopus::setup::Space;
use crate::settings::Setup;

/// The Generic OIDC account of one broker.
pub fn account_name(username: &str) -> String {
    format!("Octopus Run Key broker {username}")
}

/// The name of the OIDC identity setup gives the broker.
pub const IDENTITY: &str = "Octopus Run Key runbooks";
/// What the JWT's subject is made of: enough to trust one space's runbooks.
const SUBJECT_KEYS: [&str; 3] = ["space", "project", "runbook"];

pub enum Write {
    CreateIdentity { issuer: String, subject: String },
    CreateAccount { name: String },
    UpdateAccount { account: Value },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        let broker = known.broker_id.clone().unwrap_or_default();
        match self {
            Write::CreateIdentity { issuer, subject } => {
                client.create_oidc_identity(&broker, IDENTITY, issuer, subject)?;
            }
            Write::CreateAccount { name } => {
                let audience = external_id(client, known)?;
                let made = client.create_account(&space.id, &account(name, &audience))?;
                known.account_id = made["Id"].as_str().map(str::to_string);
            }
            Write::UpdateAccount { account: current } => {
                let audience = external_id(client, known)?;
                let mut updated = current.clone();
                let name = current["Name"].as_str().unwrap_or_default();
                for (field, value) in account(name, &audience).as_object().into_iter().flatten() {
                    if matches!(field.as_str(), "Audience" | "DeploymentSubjectKeys") {
                        updated[field] = value.clone();
                    }
                }
                let id = current["Id"].as_str().unwrap_or_default();
                client.update_account(&space.id, id, &updated)?;
            }
        }
        Ok(())
    }
}

/// The broker's external id: read by the plan, or now for a broker the run created.
fn external_id(client: &Client, known: &mut Known) -> Result<String> {
    if let Some(id) = &known.external_id {
        return Ok(id.clone());
    }
    let broker = known.broker_id.clone().unwrap_or_default();
    let id = client.oidc_identities(&broker)?.external_id;
    known.external_id = Some(id.clone());
    Ok(id)
}

fn account(name: &str, audience: &str) -> Value {
    json!({
        "AccountType": "GenericOidcAccount",
        "Name": name,
        "Description": "The octopus-runkey broker's OIDC trust: a step that uses this account gets a JWT the broker service account exchanges for an access token. Made by octopus-runkey setup.",
        "Audience": audience,
        "DeploymentSubjectKeys": SUBJECT_KEYS,
        "EnvironmentIds": [],
        "TenantIds": [],
        "TenantTags": [],
        "TenantedDeploymentParticipation": "Untenanted",
    })
}

pub fn plan(client: &Client, plan: &mut Plan, settings: &Setup) -> Result<()> {
    let Some(username) = settings.broker.as_deref().filter(|_| settings.oidc) else {
        plan.steps.push(Step::new(
            "OIDC",
            "-",
            Outcome::Skipped,
            "no --oidc given: the templates take a broker API key",
        ));
        return Ok(());
    };
    let name = account_name(username);
    let subject = match (&settings.oidc_subject, &plan.space.slug) {
        (Some(subject), _) => subject.clone(),
        (None, Some(slug)) if !slug.is_empty() => format!("space:{slug}:*"),
        (None, _) => {
            return Err(usage(format!(
                "the space {} has no slug for the default OIDC subject (space:<slug>:*): give --oidc-subject",
                plan.space.id
            )));
        }
    };
    let issuer = client
        .oidc_issuer()
        .context("reading the server's own OIDC issuer (OIDC for service accounts needs Octopus 2025.1 or later)")?;
    let identities = match plan.known.broker_id.clone() {
        Some(broker) => Some(
            client
                .oidc_identities(&broker)
                .context("reading the broker's OIDC identities")?,
        ),
        None => None,
    };
    let trusted = identities.as_ref().is_some_and(|found| {
        found
            .oidc_identities
            .iter()
            .any(|i| i.issuer == issuer && i.subject == subject)
    });
    plan.known.external_id = identities.map(|found| found.external_id);
    let identity = format!("{issuer} for {subject}");
    plan.steps.push(if trusted {
        Step::new(
            "OIDC identity",
            identity,
            Outcome::Unchanged,
            "the broker trusts it",
        )
    } else {
        Step::new(
            "OIDC identity",
            identity,
            Outcome::Created,
            "let the broker exchange this server's JWTs with that subject",
        )
        .writes(Write::CreateIdentity { issuer, subject })
    });

    let found = client
        .accounts(&plan.space.id, &name)
        .context("looking for the Generic OIDC account")?
        .into_iter()
        .find(|a| a["Name"] == name.as_str());
    let step = match found {
        None => Step::new(
            "OIDC account",
            &name,
            Outcome::Created,
            "a Generic OIDC account whose audience is the broker's external id",
        )
        .writes(Write::CreateAccount { name: name.clone() }),
        Some(account) if account["AccountType"] != "GenericOidcAccount" => {
            return Err(usage(format!(
                "the account '{name}' in {} is a {}, not a Generic OIDC account: rename or delete it, then run setup again",
                plan.space.name,
                account["AccountType"].as_str().unwrap_or("another kind")
            )));
        }
        Some(account) => {
            plan.known.account_id = account["Id"].as_str().map(str::to_string);
            let audience = account["Audience"].as_str().unwrap_or_default();
            let ours = plan
                .known
                .external_id
                .as_deref()
                .is_some_and(|id| audience == id);
            // Never re-pointed from another service account: every runbook that uses the
            // account would move to this broker's permissions.
            if !ours && !audience.is_empty() && audience != "api://default" {
                return Err(usage(format!(
                    "the account '{name}' in {} trusts another service account (its audience is {audience}, not the broker's external id): setup does not re-point it, as every runbook using it would change permissions; delete or rename it, then run setup again",
                    plan.space.name
                )));
            }
            let mut keys: Vec<&str> = account["DeploymentSubjectKeys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            keys.sort_unstable();
            let mut wanted = SUBJECT_KEYS.to_vec();
            wanted.sort_unstable();
            if ours && keys == wanted {
                Step::new(
                    "OIDC account",
                    &name,
                    Outcome::Unchanged,
                    "its audience is the broker's external id",
                )
            } else {
                Step::new(
                    "OIDC account",
                    &name,
                    Outcome::Updated,
                    "set its audience to the broker's external id and its subject keys to space, project, runbook",
                )
                .writes(Write::UpdateAccount { account })
            }
        }
    };
    plan.steps.push(step);
    Ok(())
}
