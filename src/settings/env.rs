//! The step's environment: a snapshot taken once, and every variable the tool reads named
//! once with the Octopus variable that feeds it, so that a missing one is reported the same
//! way everywhere (exit 2, naming both). Empty values and Octopus expressions that were
//! never substituted (`#{...}`) count as missing.

use std::collections::HashMap;

use crate::exit::usage;

/// An environment variable the tool reads and the Octopus variable the step maps into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! vars {
    ($($ident:ident = $source:literal;)*) => {
        $(pub const $ident: Var = Var { name: stringify!($ident), source: $source };)*
        /// Every variable the tool reads.
        pub const ALL: &[Var] = &[$($ident),*];
    };
}

vars! {
    OCTOPUS_URL = "Octopus.Web.ServerUri";
    OCTOPUS_WEB_SERVERURI = "Octopus.Web.ServerUri";
    OCTOPUS_API_KEY = "the broker service account's API key (a sensitive parameter)";
    OCTOPUS_ACCESS_TOKEN = "an access token of the broker service account";
    OCTOPUS_DEPLOYMENT_CREATEDBY_ID = "Octopus.Deployment.CreatedBy.Id";
    OCTOPUS_DEPLOYMENT_CREATEDBY_USERNAME = "Octopus.Deployment.CreatedBy.Username";
    OCTOPUS_DEPLOYMENT_CREATEDBY_DISPLAYNAME = "Octopus.Deployment.CreatedBy.DisplayName";
    OCTOPUS_DEPLOYMENT_TRIGGER_NAME = "Octopus.Deployment.Trigger.Name";
    OCTOPUS_TASK_ID = "Octopus.Task.Id";
    OCTOPUS_RUNBOOKRUN_ID = "Octopus.RunbookRun.Id";
    OCTOPUS_RUNBOOK_NAME = "Octopus.Runbook.Name";
    OCTOPUS_PROJECT_NAME = "Octopus.Project.Name";
    OCTOPUS_ENVIRONMENT_NAME = "Octopus.Environment.Name";
    OCTOPUS_TENANT_NAME = "Octopus.Deployment.Tenant.Name";
    OCTOPUS_SPACE = "the space to prepare (a name or an id)";
    OCTOPUS_SPACE_ID = "Octopus.Space.Id";
    OCTOPUS_SPACE_NAME = "Octopus.Space.Name";
    RUNKEY_OIDC_JWT = "the Generic OIDC account's OpenIdConnect.Jwt (#{<account>.OpenIdConnect.Jwt})";
    RUNKEY_OIDC_AUDIENCE = "the Generic OIDC account's Audience (#{<account>.Audience})";
    RUNKEY_API_KEY = "Octopus.Action[<create step>].Output.ApiKey";
    RUNKEY_API_KEY_ID = "Octopus.Action[<create step>].Output.ApiKeyId";
    RUNKEY_API_KEY_OWNER_ID = "Octopus.Action[<create step>].Output.ApiKeyOwnerId";
    RUNKEY_TTL = "the template's TTL parameter";
    RUNKEY_NO_GUARD = "the template's No guard parameter";
    RUNKEY_ACCESS = "the template's Access parameter (full or read-only)";
    RUNKEY_GUARD_INTERVAL = "how often the guard of a create step asks whether the task is over";
}

/// A snapshot of the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// Variables whose value is not valid UTF-8: reported as such, never as "not set".
    not_utf8: Vec<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let mut env = Env::default();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    env.vars.insert(name, value);
                }
                Err(_) => env.not_utf8.push(name),
            }
        }
        env
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            not_utf8: Vec::new(),
        }
    }

    /// A usage error for the first variable the tool reads whose value is not UTF-8.
    pub fn check_utf8(&self) -> anyhow::Result<()> {
        match ALL
            .iter()
            .find(|var| self.not_utf8.iter().any(|n| n == var.name))
        {
            Some(var) => Err(usage(format!(
                "{} holds a value that is not valid UTF-8: set it to text (it comes from {})",
                var.name, var.source
            ))),
            None => Ok(()),
        }
    }

    /// A variable that is not the tool's own (`NO_PROXY`, `TentacleHome`), trimmed; `None`
    /// when unset or empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The variable's value; `None` when unset, empty, or never substituted.
    pub fn get(&self, var: Var) -> Option<&str> {
        self.raw(var.name).filter(|v| !is_unsubstituted(v))
    }

    pub fn get_string(&self, var: Var) -> Option<String> {
        self.get(var).map(str::to_string)
    }

    /// Tentacle and Calamari put these in every step's environment.
    pub fn under_octopus(&self) -> bool {
        [
            "TentacleHome",
            "TentacleVersion",
            "OctopusCalamariWorkingDirectory",
        ]
        .iter()
        .any(|name| self.raw(name).is_some())
    }

    /// The usage error for a variable that is missing; `extra` adds a way out.
    pub fn missing(&self, var: Var, extra: &str) -> anyhow::Error {
        let why = match self.raw(var.name) {
            Some(v) if is_unsubstituted(v) => format!(
                "{} holds the Octopus expression '{v}', which was not substituted",
                var.name
            ),
            _ => format!("{} is not set", var.name),
        };
        usage(format!(
            "{why}: map it from {} in the step{extra}",
            var.source
        ))
    }
}

fn is_unsubstituted(value: &str) -> bool {
    value.starts_with("#{") && value.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unsubstituted_values_count_as_missing() {
        let env = Env::from_pairs(&[
            ("OCTOPUS_TASK_ID", "  "),
            ("OCTOPUS_URL", "#{Octopus.Web.ServerUri}"),
            ("OCTOPUS_SPACE_ID", " Spaces-1 "),
        ]);
        assert_eq!(env.get(OCTOPUS_TASK_ID), None);
        assert_eq!(env.get(OCTOPUS_URL), None);
        assert_eq!(env.get(OCTOPUS_SPACE_ID), Some("Spaces-1"));
        let text = env.missing(OCTOPUS_URL, "").to_string();
        assert!(text.contains("was not substituted"), "{text}");
        let text = env.missing(OCTOPUS_TASK_ID, "").to_string();
        assert!(text.contains("OCTOPUS_TASK_ID is not set"), "{text}");
        assert!(text.contains("Octopus.Task.Id"), "{text}");
    }

    #[test]
    fn only_a_whole_octopus_expression_is_unsubstituted() {
        assert!(is_unsubstituted("#{Octopus.Task.Id}"));
        assert!(!is_unsubstituted("#{Octopus.Task.Id"));
        assert!(!is_unsubstituted("Spaces-1}"));
        assert!(!is_unsubstituted("ServerTasks-1"));
    }

    #[test]
    fn octopus_is_recognised_by_tentacle_and_calamari_variables() {
        assert!(Env::from_pairs(&[("TentacleHome", "/etc/octopus")]).under_octopus());
        assert!(Env::from_pairs(&[("OctopusCalamariWorkingDirectory", "/w")]).under_octopus());
        assert!(!Env::default().under_octopus());
    }
}
