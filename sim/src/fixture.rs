//! The usual cast for a test: an admin, the broker service account with its key, the
//! operator who clicks Run, a deployment target, a project "Web" and the environments
//! "Production" and "Staging", on a fresh simulator; the broker account
//! is shared, as in real life, with another run's key and an unmarked key made by hand,
//! which every revoke, sweep and listing must leave alone.

use jiff::SignedDuration;

use crate::faults::Options;
use crate::simulator::Simulator;
use crate::tls::TestCa;

/// The purpose of the other run's key in the usual cast.
pub const OTHER_RUN_PURPOSE: &str = "Someone (x) ran 'Other' [runkey ServerTasks-999/abcdef12]";

/// The usual cast: a broker service account with a key, and the operator who clicks Run.
pub struct Fixture {
    pub sim: Simulator,
    /// The administrator: reads users and runs, and holds what `setup` needs (FeedView,
    /// BuiltInFeedPush, ActionTemplate*, Team*, UserRoleView, Account*, UserEdit; and to
    /// find scopes, make the sweep runbook and its trigger, and remove them: ProjectView,
    /// ProjectGroupView, EnvironmentView, TenantView, RunbookView, RunbookEdit, Trigger*).
    pub admin_id: String,
    /// The broker service account: `UserView`, `RunbookRunView`, `TaskView`, `EventView`,
    /// `MachineView`, `MachineEdit` (and so every key of it).
    pub broker_id: String,
    /// The broker's own key, made by hand 400 days ago; it expires 90 days from now.
    pub broker_key: String,
    pub broker_key_id: String,
    pub operator_id: String,
    pub space_id: String,
    /// A live key of the broker made by another run ([`OTHER_RUN_PURPOSE`], task
    /// `ServerTasks-999`), expiring in an hour.
    pub other_run_key_id: String,
    /// A key of the broker without the marker (`deploy bot`) and without an expiry.
    pub unmarked_key_id: String,
    /// A deployment target `web-01` in the space, enabled: what a runbook script disables.
    pub machine_id: String,
    /// The project "Web" (`Projects-1`) in the space's "Default Project Group".
    pub project_id: String,
    /// The environment "Production" (`Environments-1`).
    pub production_id: String,
    /// The environment "Staging" (`Environments-2`).
    pub staging_id: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_options(Options::default())
    }

    pub fn with_options(options: Options) -> Fixture {
        Fixture::on(Simulator::start_with(options))
    }

    /// The usual cast on a simulator that serves HTTPS with a certificate from `ca`.
    pub fn with_tls(ca: &TestCa) -> Fixture {
        Fixture::on(Simulator::start_tls(Options::default(), ca))
    }

    pub fn on(sim: Simulator) -> Fixture {
        let admin_id = sim.add_user(
            "admin",
            "Octopus Admin",
            false,
            &[
                "UserView",
                "UserEdit",
                "RunbookRunView",
                "TaskView",
                "EventView",
                // What `setup` needs; a test denies one with `sim.revoke_permission`.
                "FeedView",
                "BuiltInFeedPush",
                "ActionTemplateView",
                "ActionTemplateCreate",
                "ActionTemplateEdit",
                "ActionTemplateDelete",
                "TeamView",
                "TeamCreate",
                "TeamEdit",
                "TeamDelete",
                "UserRoleView",
                "AccountView",
                "AccountCreate",
                "AccountEdit",
                "AccountDelete",
                "ProjectView",
                "ProjectGroupView",
                "EnvironmentView",
                "TenantView",
                "RunbookView",
                "RunbookEdit",
                "TriggerView",
                "TriggerCreate",
                "TriggerEdit",
                "TriggerDelete",
            ],
        );
        // Take one away with `sim.revoke_permission(&f.broker_id, "TaskView")`.
        let broker_id = sim.add_user(
            "svc-runbooks",
            "Runbook Broker",
            true,
            &[
                "UserView",
                "RunbookRunView",
                "TaskView",
                "EventView",
                "MachineView",
                "MachineEdit",
            ],
        );
        let operator_id = sim.add_user("jane.doe", "Jane Doe", false, &["RunbookRunView"]);
        let now = sim.now();
        let (broker_key_id, broker_key) = sim.add_old_api_key(
            &broker_id,
            "broker key for runbooks",
            SignedDuration::from_hours(24 * 400),
            Some(now + SignedDuration::from_hours(24 * 90)),
        );
        let (other_run_key_id, _) = sim.add_api_key(
            &broker_id,
            OTHER_RUN_PURPOSE,
            Some(now + SignedDuration::from_hours(1)),
        );
        let (unmarked_key_id, _) = sim.add_api_key(&broker_id, "deploy bot", None);
        let machine_id = sim.add_machine("Spaces-1", "web-01");
        let project_id = sim.add_project("Spaces-1", "Web");
        let production_id = sim.add_environment("Spaces-1", "Production");
        let staging_id = sim.add_environment("Spaces-1", "Staging");
        Fixture {
            sim,
            admin_id,
            broker_id,
            broker_key,
            broker_key_id,
            operator_id,
            other_run_key_id,
            unmarked_key_id,
            machine_id,
            project_id,
            production_id,
            staging_id,
            space_id: "Spaces-1".to_string(),
        }
    }
}

impl Fixture {
    /// The broker's keys the cast starts with: its own, the other run's, the unmarked one.
    /// No test's revoke, sweep or settle may delete them.
    pub fn seeded_key_ids(&self) -> [&str; 3] {
        [
            &self.broker_key_id,
            &self.other_run_key_id,
            &self.unmarked_key_id,
        ]
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}
