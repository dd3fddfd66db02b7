//! The step-template steps: every template this binary ships, found in the space by exact
//! name, created when missing and updated only when its content differs (the server bumps
//! `Version` on every save, so an unchanged one is never sent). A Library-format file
//! becomes the resource Octopus takes: `Id`, `$Meta`, `Category`, `LastModifiedBy` and
//! `Version` dropped, `SpaceId` set, parameter `Id`s kept so that steps' values stay bound
//! to them. A template of that name installed from the community library is left alone.

use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value};

use super::embedded::TEMPLATES;
use super::plan::{Apply, Known, Outcome, Plan, Step};
use crate::octopus::Client;
use crate::octopus::setup::Space;

/// Library fields that are not part of the resource (`Version` is the server's).
const LIBRARY_ONLY: [&str; 5] = ["Id", "$Meta", "Category", "LastModifiedBy", "Version"];

pub enum Write {
    Create(Value),
    Update { id: String, template: Value },
}

impl Apply for Write {
    fn apply(&self, client: &Client, space: &Space, known: &mut Known) -> Result<()> {
        let saved = match self {
            Write::Create(template) => client.create_action_template(&space.id, template)?,
            Write::Update { id, template } => {
                client.update_action_template(&space.id, id, template)?
            }
        };
        remember(known, &saved);
        Ok(())
    }
}

/// A template's id and version, for the steps that use it (the sweep's runbook).
fn remember(known: &mut Known, template: &Value) {
    if let (Some(name), Some(id)) = (template["Name"].as_str(), template["Id"].as_str()) {
        let version = template["Version"].as_i64().unwrap_or(0);
        known
            .templates
            .insert(name.to_string(), (id.to_string(), version));
    }
}

/// A shipped template (Library format) as the resource for `space_id`.
pub fn resource(library_json: &str, space_id: &str) -> Result<Map<String, Value>> {
    let mut fields: Map<String, Value> = serde_json::from_str(library_json)?;
    for field in LIBRARY_ONLY {
        fields.remove(field);
    }
    fields.insert("SpaceId".into(), Value::String(space_id.to_string()));
    fields.insert("CommunityActionTemplateId".into(), Value::Null);
    Ok(fields)
}

/// The fields sent that the server's copy does not hold as sent. In objects the server may
/// add fields of its own (links, defaults), except in `Properties`, whose keys are the
/// step's settings: a key dropped there is a difference.
pub fn differences(sent: &Map<String, Value>, has: &Value) -> Vec<String> {
    sent.iter()
        .filter(|(field, value)| {
            let theirs = has.get(field.as_str()).unwrap_or(&Value::Null);
            if field.as_str() == "Properties" {
                *value != theirs
            } else {
                !holds(theirs, value)
            }
        })
        .map(|(field, _)| field.clone())
        .collect()
}

/// Whether `has` holds everything of `sent`.
fn holds(has: &Value, sent: &Value) -> bool {
    match (sent, has) {
        (Value::Object(sent), Value::Object(has)) => sent.iter().all(|(k, v)| match has.get(k) {
            Some(theirs) => holds(theirs, v),
            None => v.is_null(),
        }),
        (Value::Array(sent), Value::Array(has)) => {
            sent.len() == has.len() && sent.iter().zip(has).all(|(s, h)| holds(h, s))
        }
        _ => sent == has,
    }
}

pub fn plan(client: &Client, plan: &mut Plan) -> Result<()> {
    for (file, json) in TEMPLATES {
        let ours = resource(json, &plan.space.id)
            .map_err(|e| anyhow!("the embedded step template {file} is not valid JSON ({e})"))?;
        let name = ours
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let found = client
            .action_templates(&plan.space.id, &name)
            .with_context(|| format!("looking for the step template '{name}'"))?
            .into_iter()
            .find(|t| t.get("Name").and_then(Value::as_str) == Some(name.as_str()));
        let step = match found {
            None => Step::new(
                "step template",
                &name,
                Outcome::Created,
                "add it to the space's step templates",
            )
            .writes(Write::Create(Value::Object(ours))),
            Some(theirs) if !theirs["CommunityActionTemplateId"].is_null() => {
                plan.warnings.push(format!(
                    "the step template '{name}' in {} was installed from the community library, so setup leaves it alone (Octopus updates community templates only from the library); delete it in Library > Step Templates and run setup again to install this version's",
                    plan.space.name
                ));
                Step::new(
                    "step template",
                    &name,
                    Outcome::Skipped,
                    "installed from the community library: left alone",
                )
            }
            Some(theirs) => {
                remember(&mut plan.known, &theirs);
                let differ = differences(&ours, &theirs);
                if differ.is_empty() {
                    Step::new(
                        "step template",
                        &name,
                        Outcome::Unchanged,
                        format!(
                            "version {} holds this binary's",
                            theirs["Version"].as_i64().unwrap_or(0)
                        ),
                    )
                } else {
                    let id = theirs["Id"].as_str().unwrap_or_default().to_string();
                    let mut template = theirs.clone();
                    for (field, value) in ours {
                        template[field] = value;
                    }
                    Step::new(
                        "step template",
                        &name,
                        Outcome::Updated,
                        format!(
                            "version {} differs in {}: save this binary's as the next version",
                            theirs["Version"].as_i64().unwrap_or(0),
                            differ.join(", ")
                        ),
                    )
                    .writes(Write::Update { id, template })
                }
            }
        };
        plan.steps.push(step);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_library_shape_becomes_the_resource() {
        let library = r#"{"Id":"6f3b8c1e-2a4d-4e7b-9c15-0d8e7a3f5b21","Name":"N","ActionType":"Octopus.Script","Version":4,"CommunityActionTemplateId":null,"Parameters":[{"Id":"p-1","Name":"X"}],"$Meta":{"Type":"ActionTemplate"},"LastModifiedBy":"someone","Category":"octopus"}"#;
        let resource = resource(library, "Spaces-7").unwrap();
        for gone in ["Id", "$Meta", "Category", "LastModifiedBy", "Version"] {
            assert!(!resource.contains_key(gone), "{gone}");
        }
        assert_eq!(resource["SpaceId"], "Spaces-7");
        assert_eq!(resource["Parameters"][0]["Id"], "p-1");
    }

    #[test]
    fn only_what_is_sent_is_compared_but_properties_exactly() {
        let sent = resource(
            r#"{"Name":"N","Properties":{"A":"1"},"Parameters":[{"Id":"p","Name":"X"}]}"#,
            "Spaces-1",
        )
        .unwrap();
        let server = json!({"Id":"ActionTemplates-1","Version":3,"SpaceId":"Spaces-1","Name":"N",
            "CommunityActionTemplateId":null,"Properties":{"A":"1"},
            "Parameters":[{"Id":"p","Name":"X","Links":{}}],"Links":{}});
        assert!(differences(&sent, &server).is_empty());
        let mut extra_property = server.clone();
        extra_property["Properties"]["B"] = json!("2");
        assert_eq!(differences(&sent, &extra_property), ["Properties"]);
        let mut renamed = server.clone();
        renamed["Parameters"][0]["Name"] = json!("Y");
        assert_eq!(differences(&sent, &renamed), ["Parameters"]);
    }
}
