//! The OIDC steps (`--oidc`): an OIDC identity on the broker trusting the server's own
//! issuer (the `issuer` of its discovery document) for `--oidc-subject` (default
//! `space:<slug>:*`), and the Generic OIDC account `Octopus Run Key broker` whose Audience
//! is the broker's external id, the GUID its tokens must be issued for. A step that uses the
//! account gets a JWT the broker can exchange for an access token: no secret is stored.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::exit::usage;
use crate::octopus::Client;
use crate::octopus::setup::Space;
use crate::settings::Setup;

pub const ACCOUNT: &str = "Octopus Run Key broker";
const IDENTITY: &str = "Octopus Run Key runbooks";
/// What the JWT's subject is made of: enough to trust one space's runbooks.
const SUBJECT_KEYS: [&str; 3] = ["space", "project", "runbook"];

pub enum Write {
    CreateIdentity { issuer: String, subject: String },
    CreateAccount,
    UpdateAccount { account: Value },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        let broker = known.broker_id.clone().unwrap_or_default();
        match self {
            Write::CreateIdentity { issuer, subject } => {
                client.create_oidc_identity(&broker, IDENTITY, issuer, subject)?;
            }
            Write::CreateAccount => {
                let audience = external_id(client, known)?;
                client.create_account(&space.id, &account(&audience))?;
            }
            Write::UpdateAccount { account: current } => {
                let audience = external_id(client, known)?;
                let mut updated = current.clone();
                for (field, value) in account(&audience).as_object().into_iter().flatten() {
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

fn account(audience: &str) -> Value {
    json!({
        "AccountType": "GenericOidcAccount",
        "Name": ACCOUNT,
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
    if !settings.oidc || settings.broker.is_none() {
        plan.steps.push(Step::new(
            "OIDC",
            "-",
            Outcome::Skipped,
            "no --oidc given: the templates take a broker API key",
        ));
        return Ok(());
    }
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
        .accounts(&plan.space.id, ACCOUNT)
        .context("looking for the Generic OIDC account")?
        .into_iter()
        .find(|a| a["Name"] == ACCOUNT);
    let step = match found {
        None => Step::new(
            "OIDC account",
            ACCOUNT,
            Outcome::Created,
            "a Generic OIDC account whose audience is the broker's external id",
        )
        .writes(Write::CreateAccount),
        Some(account) if account["AccountType"] != "GenericOidcAccount" => {
            return Err(usage(format!(
                "the account '{ACCOUNT}' in {} is a {}, not a Generic OIDC account: rename or delete it, then run setup again",
                plan.space.name,
                account["AccountType"].as_str().unwrap_or("another kind")
            )));
        }
        Some(account) => {
            let audience_ok = plan
                .known
                .external_id
                .as_ref()
                .is_some_and(|id| account["Audience"] == id.as_str());
            let mut keys: Vec<&str> = account["DeploymentSubjectKeys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            keys.sort_unstable();
            let mut wanted = SUBJECT_KEYS.to_vec();
            wanted.sort_unstable();
            if audience_ok && keys == wanted {
                Step::new(
                    "OIDC account",
                    ACCOUNT,
                    Outcome::Unchanged,
                    "its audience is the broker's external id",
                )
            } else {
                Step::new(
                    "OIDC account",
                    ACCOUNT,
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
