//! Deployment targets of a space (`/api/{space}/machines`): listed, read, and modified with
//! `PUT` (a script disabling a target sends the resource back with `IsDisabled: true`), an
//! audited change. Reading needs `MachineView`, changing `MachineEdit`.

use serde_json::{Value, json};

use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::model::Machine;
use crate::render::{PageOf, forbidden, invalid, method_not_allowed, not_found, paged};
use crate::state::State;

pub(crate) fn machine_json(machine: &Machine) -> Value {
    json!({
        "Id": machine.id,
        "Name": machine.name,
        "IsDisabled": machine.is_disabled,
        "SpaceId": machine.space_id,
        "EnvironmentIds": ["Environments-1"],
        "Roles": ["web"],
        "TenantedDeploymentParticipation": "Untenanted",
        "HealthStatus": "Healthy",
        "Endpoint": {"CommunicationStyle": "TentaclePassive", "Uri": "https://web-01:10933/"},
        "Links": {"Self": format!("/api/{}/machines/{}", machine.space_id, machine.id)},
    })
}

/// `/api/{space}/machines` and below; `rest` is what follows `machines`.
pub(crate) fn route(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &str,
    rest: &[&str],
) -> Answer {
    let method = request.method.as_str();
    let needed = if method == "GET" {
        "MachineView"
    } else {
        "MachineEdit"
    };
    if !actor.user.has_permission(needed) {
        return done(forbidden(needed));
    }
    match (method, rest) {
        ("GET", []) => {
            let machines: Vec<&Machine> = state
                .machines
                .iter()
                .filter(|m| m.space_id == space)
                .collect();
            let fabricate = || {
                let n = state.fabricated_number();
                machine_json(&Machine {
                    id: format!("Machines-{n}"),
                    space_id: space.to_string(),
                    name: format!("fabricated-{n}"),
                    is_disabled: false,
                })
            };
            done(paged(
                request,
                &state.options,
                "Machine",
                machines,
                machine_json,
                PageOf {
                    base: &format!("/api/{space}/machines"),
                    filters: &["name", "ids", "isDisabled"],
                    extra: &[],
                    fabricate: &fabricate,
                },
            ))
        }
        ("GET", [id]) => done(
            match state
                .machines
                .iter()
                .find(|m| m.id == *id && m.space_id == space)
            {
                Some(machine) => Response::json(200, &machine_json(machine)),
                None => not_found(id),
            },
        ),
        ("PUT", [id]) => modify(state, request, space, id),
        _ => done(method_not_allowed()),
    }
}

fn modify(state: &mut State, request: &Request, space: &str, id: &str) -> Answer {
    let Some(index) = state
        .machines
        .iter()
        .position(|m| m.id == id && m.space_id == space)
    else {
        return done(not_found(id));
    };
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return done(invalid("The request body is not valid JSON."));
    };
    if body
        .get("Id")
        .and_then(Value::as_str)
        .is_some_and(|sent| sent != id)
    {
        return done(invalid(
            "The Id in the body does not match the resource in the URL.",
        ));
    }
    let disabled = match body.get("IsDisabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return done(invalid("IsDisabled must be true or false.")),
    };
    let name = match body.get("Name") {
        None => None,
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_string()),
        Some(_) => return done(invalid("Please provide a name for this deployment target.")),
    };
    let machine = &mut state.machines[index];
    let was_disabled = machine.is_disabled;
    if let Some(disabled) = disabled {
        machine.is_disabled = disabled;
    }
    if let Some(name) = name {
        machine.name = name;
    }
    let what = match (was_disabled, machine.is_disabled) {
        (false, true) => "was disabled",
        (true, false) => "was enabled",
        _ => "was modified",
    };
    let change = Change {
        message: format!("Deployment target {} {what}", machine.name),
        related_document_ids: vec![machine.id.clone(), "Environments-1".to_string()],
    };
    (Response::json(200, &machine_json(machine)), Some(change))
}
