//! Projects, project groups, environments and tenants of a space, read-only: each kind's
//! `/all` (a bare array, as every `/all` of Octopus) and its paged listing (`partialName`
//! is "contains", sorted by name). Reading needs ProjectView, ProjectGroupView,
//! EnvironmentView or TenantView. Clients find an item by exact name themselves.

use serde_json::{Value, json};

use super::input::{contains, fabricated_name, require};
use crate::auth::Actor;
use crate::catalog::{Environment, Project, ProjectGroup, Tenant, slug};
use crate::http::{Request, Response};
use crate::prepared::Space;
use crate::render::{PageOf, not_found, paged};
use crate::state::State;

/// The kinds this module serves, by the path segment that names them.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Projects,
    ProjectGroups,
    Environments,
    Tenants,
}

impl Kind {
    pub(super) fn from_segment(segment: &str) -> Option<Kind> {
        Some(match segment {
            "projects" => Kind::Projects,
            "projectgroups" => Kind::ProjectGroups,
            "environments" => Kind::Environments,
            "tenants" => Kind::Tenants,
            _ => return None,
        })
    }

    fn segment(self) -> &'static str {
        match self {
            Kind::Projects => "projects",
            Kind::ProjectGroups => "projectgroups",
            Kind::Environments => "environments",
            Kind::Tenants => "tenants",
        }
    }

    fn permission(self) -> &'static str {
        match self {
            Kind::Projects => "ProjectView",
            Kind::ProjectGroups => "ProjectGroupView",
            Kind::Environments => "EnvironmentView",
            Kind::Tenants => "TenantView",
        }
    }

    fn item_type(self) -> &'static str {
        match self {
            Kind::Projects => "Project",
            Kind::ProjectGroups => "ProjectGroup",
            Kind::Environments => "Environment",
            Kind::Tenants => "Tenant",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Projects => "Projects",
            Kind::ProjectGroups => "ProjectGroups",
            Kind::Environments => "Environments",
            Kind::Tenants => "Tenants",
        }
    }
}

fn link(space_id: &str, kind: Kind, id: &str) -> Value {
    json!({"Self": format!("/api/{space_id}/{}/{id}", kind.segment())})
}

pub(crate) fn project_json(project: &Project) -> Value {
    json!({
        "Id": project.id,
        "Name": project.name,
        "Slug": project.slug,
        "SpaceId": project.space_id,
        "ProjectGroupId": project.project_group_id,
        "Description": "",
        "IsDisabled": false,
        "LifecycleId": "Lifecycles-1",
        "DeploymentProcessId": format!("deploymentprocess-{}", project.id),
        "VariableSetId": format!("variableset-{}", project.id),
        "TenantedDeploymentMode": "Untenanted",
        "Links": link(&project.space_id, Kind::Projects, &project.id),
    })
}

fn project_group_json(group: &ProjectGroup) -> Value {
    json!({
        "Id": group.id,
        "Name": group.name,
        "Slug": group.slug,
        "SpaceId": group.space_id,
        "Description": "",
        "EnvironmentIds": [],
        "RetentionPolicyId": null,
        "Links": link(&group.space_id, Kind::ProjectGroups, &group.id),
    })
}

fn environment_json(environment: &Environment) -> Value {
    json!({
        "Id": environment.id,
        "Name": environment.name,
        "Slug": environment.slug,
        "SpaceId": environment.space_id,
        "Description": "",
        "SortOrder": 0,
        "UseGuidedFailure": false,
        "AllowDynamicInfrastructure": true,
        "Links": link(&environment.space_id, Kind::Environments, &environment.id),
    })
}

fn tenant_json(tenant: &Tenant) -> Value {
    json!({
        "Id": tenant.id,
        "Name": tenant.name,
        "Slug": tenant.slug,
        "SpaceId": tenant.space_id,
        "Description": "",
        "IsDisabled": false,
        "ProjectEnvironments": {},
        "TenantTags": [],
        "Links": link(&tenant.space_id, Kind::Tenants, &tenant.id),
    })
}

/// The items of `kind` in `space`, in the order they were made, as (name, resource).
fn items(state: &State, kind: Kind, space: &Space) -> Vec<(String, Value)> {
    let catalog = &state.catalog;
    let here = |space_id: &str| space_id == space.id;
    match kind {
        Kind::Projects => catalog
            .projects
            .iter()
            .filter(|p| here(&p.space_id))
            .map(|p| (p.name.clone(), project_json(p)))
            .collect(),
        Kind::ProjectGroups => catalog
            .project_groups
            .iter()
            .filter(|g| here(&g.space_id))
            .map(|g| (g.name.clone(), project_group_json(g)))
            .collect(),
        Kind::Environments => catalog
            .environments
            .iter()
            .filter(|e| here(&e.space_id))
            .map(|e| (e.name.clone(), environment_json(e)))
            .collect(),
        Kind::Tenants => catalog
            .tenants
            .iter()
            .filter(|t| here(&t.space_id))
            .map(|t| (t.name.clone(), tenant_json(t)))
            .collect(),
    }
}

/// `GET /api/{space}/{kind}/all`: every item, a bare array.
pub(super) fn all(state: &State, actor: &Actor, space: &Space, kind: Kind) -> Response {
    if let Err((refused, _)) = require(actor, kind.permission()) {
        return refused;
    }
    let all: Vec<Value> = items(state, kind, space)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    Response::json(200, &Value::Array(all))
}

/// `GET /api/{space}/{kind}?partialName=`: a page, sorted by name.
pub(super) fn list(
    state: &State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    kind: Kind,
) -> Response {
    if let Err((refused, _)) = require(actor, kind.permission()) {
        return refused;
    }
    let partial = request.query("partialName").filter(|p| !p.is_empty());
    let mut found: Vec<(String, Value)> = items(state, kind, space)
        .into_iter()
        .filter(|(name, _)| contains(name, partial.as_deref()))
        .collect();
    found.sort_by_key(|(name, _)| name.to_lowercase());
    let extra: Vec<(&str, String)> = partial.iter().map(|p| ("partialName", p.clone())).collect();
    let fabricate = || {
        let n = state.fabricated_number();
        let id = format!("{}-{n}", kind.id_prefix());
        let name = fabricated_name(partial.as_deref(), n);
        let mut item = json!({
            "Id": id,
            "Name": name,
            "Slug": slug(&name),
            "SpaceId": space.id,
            "Links": link(&space.id, kind, &id),
        });
        if let Kind::Projects = kind {
            item["ProjectGroupId"] = json!(format!("ProjectGroups-{n}"));
        }
        item
    };
    paged(
        request,
        &state.options,
        kind.item_type(),
        found,
        |(_, value)| value,
        PageOf {
            base: &format!("/api/{}/{}", space.id, kind.segment()),
            filters: &["partialName"],
            extra: &extra,
            fabricate: &fabricate,
        },
    )
}

/// `GET /api/{space}/{kind}/{id}`.
pub(super) fn one(state: &State, actor: &Actor, space: &Space, kind: Kind, id: &str) -> Response {
    if let Err((refused, _)) = require(actor, kind.permission()) {
        return refused;
    }
    items(state, kind, space)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v["Id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map_or_else(|| not_found(id), |v| Response::json(200, &v))
}
