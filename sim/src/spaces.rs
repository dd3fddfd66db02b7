//! What a test seeds and reads, through its `Simulator` handle, of what spaces hold:
//! spaces themselves, their projects, project groups, environments and tenants, what
//! `setup` prepares (packages, step templates, teams and their grants, user roles,
//! accounts), and runbooks with their processes, snapshots and scheduled triggers. Seeding here stands for what an administrator did earlier in the web portal:
//! it leaves no audit event.

use serde_json::{Map, Value, json};

use crate::catalog::{Environment, Project, ProjectGroup, Tenant};
use crate::prepared::{Package, ScopedUserRole, Space, Team, UserRole};
use crate::runbooks::runbook_resource;
use crate::simulator::Simulator;

/// Seeding and reading what `setup` prepares, for tests.
impl Simulator {
    /// Another space; returns its id (`Spaces-N`). Its slug is its name in lower case with
    /// dashes.
    pub fn add_space(&self, name: &str, is_default: bool) -> String {
        let mut state = self.state();
        let id = format!("Spaces-{}", state.prepared.spaces.len() + 1);
        if is_default {
            for space in &mut state.prepared.spaces {
                space.is_default = false;
            }
        }
        state.prepared.spaces.push(Space {
            id: id.clone(),
            name: name.to_string(),
            slug: name.to_lowercase().replace(' ', "-"),
            is_default,
        });
        id
    }

    pub fn spaces(&self) -> Vec<Space> {
        self.state().prepared.spaces.clone()
    }

    /// A step template stored as given (as if installed earlier, or from the community
    /// library when it has a `CommunityActionTemplateId`), with an `Id`, `SpaceId` and
    /// `Version` when it lacks them; returns its id.
    pub fn add_action_template(&self, space_id: &str, mut template: Value) -> String {
        let mut state = self.state();
        let id = format!("ActionTemplates-{}", state.next());
        let fields = template
            .as_object_mut()
            .expect("a template is a JSON object");
        fields.insert("Id".into(), Value::String(id.clone()));
        fields.insert("SpaceId".into(), Value::String(space_id.to_string()));
        fields.entry("Version").or_insert(Value::from(0));
        fields
            .entry("CommunityActionTemplateId")
            .or_insert(Value::Null);
        state.prepared.action_templates.push(template);
        id
    }

    /// Changes a stored step template outside the API (as another administrator would).
    pub fn edit_action_template(&self, id: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.state();
        let template = state
            .prepared
            .action_templates
            .iter_mut()
            .find(|t| t["Id"] == id)
            .unwrap_or_else(|| panic!("no step template {id} in the simulator"));
        change(template);
    }

    /// The step templates of `space_id`, as the server holds them.
    pub fn action_templates(&self, space_id: &str) -> Vec<Value> {
        self.state()
            .prepared
            .action_templates
            .iter()
            .filter(|t| t["SpaceId"] == space_id)
            .cloned()
            .collect()
    }

    pub fn packages(&self) -> Vec<Package> {
        self.state().prepared.packages.clone()
    }

    /// A team named `name` in `space_id` (`None`: a system team, seen from every space)
    /// holding the users `member_user_ids` and the external security groups given as
    /// (`Id`, `DisplayName`), e.g. Active Directory's ("S-1-5-21-...-513", "Domain Users"),
    /// as an administrator would have made it (it can be deleted); returns its id
    /// (`Teams-N`). Its members act with the roles granted to it.
    pub fn add_team(
        &self,
        space_id: Option<&str>,
        name: &str,
        member_user_ids: &[&str],
        external_security_groups: &[(&str, &str)],
    ) -> String {
        let mut state = self.state();
        let id = format!("Teams-{}", state.next());
        state.prepared.teams.push(Team {
            id: id.clone(),
            name: name.to_string(),
            space_id: space_id.map(str::to_string),
            description: String::new(),
            member_user_ids: member_user_ids.iter().map(|m| m.to_string()).collect(),
            external_security_groups: external_security_groups
                .iter()
                .map(|(id, name)| json!({"Id": id, "DisplayName": name}))
                .collect(),
            can_be_deleted: true,
        });
        id
    }

    pub fn teams(&self) -> Vec<Team> {
        self.state().prepared.teams.clone()
    }

    pub fn scoped_user_roles(&self) -> Vec<ScopedUserRole> {
        self.state().prepared.scoped_roles.clone()
    }

    pub fn user_roles(&self) -> Vec<UserRole> {
        self.state().prepared.user_roles.clone()
    }

    /// The accounts of every space, as the server holds them.
    pub fn accounts(&self) -> Vec<Value> {
        self.state().prepared.accounts.clone()
    }
}

/// The projects, project groups, environments and tenants of spaces, for tests.
impl Simulator {
    /// A project named `name` in `space_id`, in the space's "Default Project Group" (made
    /// with the space's first project, as Octopus makes one with every space); returns its
    /// id (`Projects-N`, numbered per kind as Octopus does).
    pub fn add_project(&self, space_id: &str, name: &str) -> String {
        let mut state = self.state();
        let group = state.catalog.default_project_group(space_id);
        state.catalog.add_project(space_id, &group, name)
    }

    /// A project in the project group `group_id` (see [`Simulator::add_project_group`]).
    pub fn add_project_in_group(&self, space_id: &str, group_id: &str, name: &str) -> String {
        self.state().catalog.add_project(space_id, group_id, name)
    }

    /// A project group (`ProjectGroups-N`): a folder of projects, by which a grant can be
    /// scoped.
    pub fn add_project_group(&self, space_id: &str, name: &str) -> String {
        self.state().catalog.add_project_group(space_id, name)
    }

    /// An environment (`Environments-N`).
    pub fn add_environment(&self, space_id: &str, name: &str) -> String {
        self.state().catalog.add_environment(space_id, name)
    }

    /// A tenant (`Tenants-N`).
    pub fn add_tenant(&self, space_id: &str, name: &str) -> String {
        self.state().catalog.add_tenant(space_id, name)
    }

    /// Every project of every space, in the order they were made.
    pub fn projects(&self) -> Vec<Project> {
        self.state().catalog.projects.clone()
    }

    /// Every project group of every space, the default ones included.
    pub fn project_groups(&self) -> Vec<ProjectGroup> {
        self.state().catalog.project_groups.clone()
    }

    /// Every environment of every space.
    pub fn environments(&self) -> Vec<Environment> {
        self.state().catalog.environments.clone()
    }

    /// Every tenant of every space.
    pub fn tenants(&self) -> Vec<Tenant> {
        self.state().catalog.tenants.clone()
    }
}

/// Runbooks, their processes and snapshots, and scheduled triggers, for tests.
impl Simulator {
    /// A runbook named `name` in project `project_id` of `space_id`, as if made in the web
    /// portal: every field at its default (a retention policy of 100 runs, all
    /// environments), unpublished, with the empty process the server makes; returns its id
    /// (`Runbooks-N`). Panics when the space has no such project.
    pub fn add_runbook(&self, space_id: &str, project_id: &str, name: &str) -> String {
        let mut state = self.state();
        let project = state
            .catalog
            .project(space_id, project_id)
            .unwrap_or_else(|| panic!("no project {project_id} in {space_id}"))
            .id
            .clone();
        let id = state.runbooks.ids.next_id("Runbooks");
        let runbook = runbook_resource(&Map::new(), &id, space_id, name, &project);
        state.runbooks.add(runbook);
        id
    }

    /// Every runbook of every space, as the server holds it.
    pub fn runbooks(&self) -> Vec<Value> {
        self.state().runbooks.runbooks.clone()
    }

    /// The runbook process `id`: a runbook's live one (`RunbookProcess-Runbooks-N`) or one a
    /// snapshot froze (its `FrozenRunbookProcessId`).
    pub fn runbook_process(&self, id: &str) -> Option<Value> {
        let state = self.state();
        let runbooks = &state.runbooks;
        runbooks
            .processes
            .iter()
            .chain(&runbooks.frozen)
            .find(|p| p["Id"] == id)
            .cloned()
    }

    /// Changes the live process `id` outside the API, as another user saving it in the web
    /// portal would: its `Version` moves on, so a client still holding the old one is
    /// refused its next save. Panics when there is no such live process.
    pub fn edit_runbook_process(&self, id: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.state();
        let process = state
            .runbooks
            .processes
            .iter_mut()
            .find(|p| p["Id"] == id)
            .unwrap_or_else(|| panic!("no runbook process {id} in the simulator"));
        change(process);
        let version = process["Version"].as_i64().unwrap_or(0);
        process["Version"] = json!(version + 1);
    }

    /// Every runbook snapshot, as the server holds it.
    pub fn runbook_snapshots(&self) -> Vec<Value> {
        self.state().runbooks.snapshots.clone()
    }

    /// Every project trigger (scheduled runbook triggers), as the server holds it.
    pub fn project_triggers(&self) -> Vec<Value> {
        self.state().runbooks.triggers.clone()
    }
}
