//! What a space holds that runbooks, triggers and scoped grants refer to: projects (each in
//! a project group), project groups, environments and tenants. Octopus gives each kind its
//! own numbering (`Projects-1`, `Environments-1`, ...) and a `Slug`, the name in lower case
//! with dashes, which OIDC subjects use. A space gets its "Default Project Group" with its
//! first project, as Octopus makes one with every space.

use crate::ids::Numbering;

/// A project: what runbooks (and deployments) belong to, always in a project group.
#[derive(Debug, Clone)]
pub struct Project {
    /// `Projects-N`.
    pub id: String,
    pub name: String,
    pub slug: String,
    pub space_id: String,
    pub project_group_id: String,
}

/// A project group: a folder of projects, by which a grant can be scoped.
#[derive(Debug, Clone)]
pub struct ProjectGroup {
    /// `ProjectGroups-N`.
    pub id: String,
    pub name: String,
    pub slug: String,
    pub space_id: String,
}

/// An environment (`Environments-N`): where a runbook runs, by which triggers and grants
/// are scoped.
#[derive(Debug, Clone)]
pub struct Environment {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub space_id: String,
}

/// A tenant (`Tenants-N`): a customer or site a runbook can run for.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub space_id: String,
}

/// The name of the project group Octopus makes in every space.
pub const DEFAULT_PROJECT_GROUP: &str = "Default Project Group";

/// Every space's projects, project groups, environments and tenants, with the numbering of
/// each kind.
#[derive(Default)]
pub(crate) struct Catalog {
    pub projects: Vec<Project>,
    pub project_groups: Vec<ProjectGroup>,
    pub environments: Vec<Environment>,
    pub tenants: Vec<Tenant>,
    ids: Numbering,
}

/// Octopus's slug of a name: lower case, runs of other characters as one dash.
pub(crate) fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

impl Catalog {
    pub fn add_project_group(&mut self, space_id: &str, name: &str) -> String {
        let id = self.ids.next_id("ProjectGroups");
        self.project_groups.push(ProjectGroup {
            id: id.clone(),
            name: name.to_string(),
            slug: slug(name),
            space_id: space_id.to_string(),
        });
        id
    }

    /// The space's "Default Project Group", made on first use.
    pub fn default_project_group(&mut self, space_id: &str) -> String {
        match self
            .project_groups
            .iter()
            .find(|g| g.space_id == space_id && g.name == DEFAULT_PROJECT_GROUP)
        {
            Some(group) => group.id.clone(),
            None => self.add_project_group(space_id, DEFAULT_PROJECT_GROUP),
        }
    }

    pub fn add_project(&mut self, space_id: &str, group_id: &str, name: &str) -> String {
        let id = self.ids.next_id("Projects");
        self.projects.push(Project {
            id: id.clone(),
            name: name.to_string(),
            slug: slug(name),
            space_id: space_id.to_string(),
            project_group_id: group_id.to_string(),
        });
        id
    }

    pub fn add_environment(&mut self, space_id: &str, name: &str) -> String {
        let id = self.ids.next_id("Environments");
        self.environments.push(Environment {
            id: id.clone(),
            name: name.to_string(),
            slug: slug(name),
            space_id: space_id.to_string(),
        });
        id
    }

    pub fn add_tenant(&mut self, space_id: &str, name: &str) -> String {
        let id = self.ids.next_id("Tenants");
        self.tenants.push(Tenant {
            id: id.clone(),
            name: name.to_string(),
            slug: slug(name),
            space_id: space_id.to_string(),
        });
        id
    }

    pub fn project(&self, space_id: &str, id: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.space_id == space_id && p.id.eq_ignore_ascii_case(id))
    }

    pub fn has_project_group(&self, space_id: &str, id: &str) -> bool {
        self.project_groups
            .iter()
            .any(|g| g.space_id == space_id && g.id.eq_ignore_ascii_case(id))
    }

    pub fn has_environment(&self, space_id: &str, id: &str) -> bool {
        self.environments
            .iter()
            .any(|e| e.space_id == space_id && e.id.eq_ignore_ascii_case(id))
    }

    pub fn has_tenant(&self, space_id: &str, id: &str) -> bool {
        self.tenants
            .iter()
            .any(|t| t.space_id == space_id && t.id.eq_ignore_ascii_case(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_with_single_dashes() {
        assert_eq!(slug("Web"), "web");
        assert_eq!(slug("Default Project Group"), "default-project-group");
        assert_eq!(slug("  Ops / Clean-up!  "), "ops-clean-up");
    }

    #[test]
    fn each_kind_is_numbered_on_its_own() {
        let mut catalog = Catalog::default();
        let group = catalog.default_project_group("Spaces-1");
        assert_eq!(group, "ProjectGroups-1");
        assert_eq!(catalog.add_project("Spaces-1", &group, "Web"), "Projects-1");
        assert_eq!(
            catalog.add_environment("Spaces-1", "Prod"),
            "Environments-1"
        );
        assert_eq!(catalog.add_project("Spaces-1", &group, "Api"), "Projects-2");
        assert_eq!(catalog.default_project_group("Spaces-1"), group);
    }
}
