//! What runbooks, triggers and grants refer to: projects, project groups, environments and
//! tenants of a space, served as bare arrays by `/all` and paged by their listings, under
//! `/api/{spaceId}/...` and `/api/spaces/{spaceId}/...` alike, each behind its View
//! permission; and the usual cast's project "Web" and environments "Production" and
//! "Staging".

use octopus_sim::Fixture;
use serde_json::Value;

use crate::support::{admin_key, request};

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("a bare array: {items}"))
        .iter()
        .map(|i| i["Name"].as_str().unwrap())
        .collect()
}

#[test]
fn the_usual_cast_has_a_project_web_and_two_environments() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let (status, projects) = request(&f, "GET", "/api/Spaces-1/projects/all", &key, None);
    assert_eq!(status, 200);
    assert_eq!(names(&projects), ["Web"]);
    let web = &projects[0];
    assert_eq!(web["Id"], f.project_id.as_str());
    assert_eq!(f.project_id, "Projects-1");
    assert_eq!(web["Slug"], "web");
    assert_eq!(web["SpaceId"], "Spaces-1");
    let (_, groups) = request(&f, "GET", "/api/Spaces-1/projectgroups/all", &key, None);
    assert_eq!(names(&groups), [octopus_sim::DEFAULT_PROJECT_GROUP]);
    assert_eq!(web["ProjectGroupId"], groups[0]["Id"]);
    assert_eq!(groups[0]["Slug"], "default-project-group");
    let (_, environments) = request(&f, "GET", "/api/Spaces-1/environments/all", &key, None);
    assert_eq!(names(&environments), ["Production", "Staging"]);
    assert_eq!(environments[0]["Id"], f.production_id.as_str());
    assert_eq!(environments[1]["Id"], f.staging_id.as_str());
    assert_eq!(environments[1]["Slug"], "staging");
    let (_, tenants) = request(&f, "GET", "/api/Spaces-1/tenants/all", &key, None);
    assert_eq!(tenants, Value::Array(Vec::new()), "no tenant by default");
    // What the cast had before is unchanged: its keys, its one team, no account.
    assert_eq!(f.sim.keys(&f.broker_id).len(), 3);
    assert_eq!(f.sim.teams().len(), 1);
    assert!(f.sim.accounts().is_empty() && f.sim.packages().is_empty());
}

#[test]
fn every_space_path_also_answers_under_api_spaces() {
    let f = Fixture::new();
    let key = admin_key(&f);
    for kind in ["projects", "projectgroups", "environments", "tenants"] {
        let short = request(&f, "GET", &format!("/api/Spaces-1/{kind}/all"), &key, None);
        let long = request(
            &f,
            "GET",
            &format!("/api/spaces/Spaces-1/{kind}/all"),
            &key,
            None,
        );
        assert_eq!(short, long, "{kind}");
    }
    // The resources that were there before answer the same way.
    for kind in ["teams", "accounts", "actiontemplates"] {
        let (status, page) = request(
            &f,
            "GET",
            &format!("/api/spaces/Spaces-1/{kind}"),
            &key,
            None,
        );
        assert_eq!(status, 200, "{kind}: {page}");
        assert!(page["Items"].is_array(), "{kind}: {page}");
    }
    // The space itself is still `/api/spaces/{id}`.
    let (status, space) = request(&f, "GET", "/api/spaces/Spaces-1", &key, None);
    assert_eq!((status, space["Slug"].as_str()), (200, Some("default")));
}

#[test]
fn seeded_items_stay_in_their_space_and_group() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let other = f.sim.add_space("Ops", false);
    let group = f.sim.add_project_group(&other, "Platform");
    let api = f.sim.add_project_in_group(&other, &group, "Ops API");
    let tools = f.sim.add_project(&other, "Tools");
    let tenant = f.sim.add_tenant(&other, "Acme Corp");
    let environment = f.sim.add_environment(&other, "Production");
    assert_eq!(api, "Projects-2", "projects are numbered across spaces");
    assert_eq!(environment, "Environments-3");
    assert_eq!(tenant, "Tenants-1");
    let (_, projects) = request(&f, "GET", &format!("/api/{other}/projects/all"), &key, None);
    assert_eq!(names(&projects), ["Ops API", "Tools"]);
    assert_eq!(projects[0]["ProjectGroupId"], group.as_str());
    assert_eq!(projects[0]["Slug"], "ops-api");
    let (_, groups) = request(
        &f,
        "GET",
        &format!("/api/{other}/projectgroups/all"),
        &key,
        None,
    );
    assert_eq!(
        names(&groups),
        ["Platform", octopus_sim::DEFAULT_PROJECT_GROUP],
        "the space's default group came with its first project in it"
    );
    assert_eq!(projects[1]["ProjectGroupId"], groups[1]["Id"]);
    assert_eq!(projects[1]["Id"], tools.as_str());
    let (_, tenants) = request(&f, "GET", &format!("/api/{other}/tenants/all"), &key, None);
    assert_eq!(names(&tenants), ["Acme Corp"]);
    assert_eq!(tenants[0]["Slug"], "acme-corp");
    let (_, here) = request(&f, "GET", "/api/Spaces-1/projects/all", &key, None);
    assert_eq!(names(&here), ["Web"]);
    assert_eq!(f.sim.projects().len(), 3);
    assert_eq!(f.sim.tenants()[0].space_id, other);
}

#[test]
fn listings_are_paged_and_filtered_by_partial_name() {
    let f = Fixture::new();
    let key = admin_key(&f);
    f.sim.add_environment("Spaces-1", "Pre-production");
    let (status, page) = request(
        &f,
        "GET",
        "/api/Spaces-1/environments?partialName=PROD",
        &key,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(page["ItemType"], "Environment");
    assert_eq!(names(&page["Items"]), ["Pre-production", "Production"]);
    let (status, one) = request(
        &f,
        "GET",
        &format!("/api/Spaces-1/environments/{}", f.staging_id),
        &key,
        None,
    );
    assert_eq!((status, one["Name"].as_str()), (200, Some("Staging")));
    let (status, body) = request(
        &f,
        "GET",
        "/api/Spaces-1/environments/Environments-99",
        &key,
        None,
    );
    assert_eq!(status, 404);
    assert_eq!(
        body["ErrorMessage"],
        "The resource 'Environments-99' was not found."
    );
}

#[test]
fn reading_each_kind_needs_its_view_permission() {
    let f = Fixture::new();
    // The broker holds none of them.
    for (kind, permission) in [
        ("projects", "ProjectView"),
        ("projectgroups", "ProjectGroupView"),
        ("environments", "EnvironmentView"),
        ("tenants", "TenantView"),
    ] {
        let (status, body) = request(
            &f,
            "GET",
            &format!("/api/Spaces-1/{kind}/all"),
            &f.broker_key,
            None,
        );
        assert_eq!(status, 403, "{kind}");
        assert!(
            body["ErrorMessage"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Missing permission: {permission}")),
            "{body}"
        );
    }
    let key = admin_key(&f);
    let (status, _) = request(&f, "GET", "/api/Spaces-9/projects/all", &key, None);
    assert_eq!(status, 404, "an unknown space");
    let (status, _) = request(&f, "POST", "/api/Spaces-1/projects", &key, None);
    assert_eq!(
        status, 405,
        "the simulator does not make projects over the API"
    );
}
