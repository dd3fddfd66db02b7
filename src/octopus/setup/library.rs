//! Spaces, the built-in feed and step templates.

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::octopus::client::Client;
use crate::octopus::client::PAGE_SIZE;
use crate::octopus::errors::is_octopus_404;
use crate::octopus::transport::{Body, MULTIPART_BOUNDARY, Method};
use crate::octopus::url::encode;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Space {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

impl Client {
    /// `GET /api/spaces`, every page.
    pub fn spaces(&self) -> Result<Vec<Space>> {
        self.all_pages("GET /api/spaces", |skip| {
            format!("/api/spaces?skip={skip}&take={PAGE_SIZE}")
        })
    }

    /// `GET /api/{space}/packages/{id}.{version}`: whether the built-in feed has it. Only
    /// Octopus's own JSON 404 means no.
    pub fn package_exists(&self, space: &str, id: &str, version: &str) -> Result<bool> {
        let path = format!(
            "/api/{}/packages/{}",
            encode(space),
            encode(&format!("{id}.{version}"))
        );
        match self.get::<Value>(&path) {
            Ok(_) => Ok(true),
            Err(e) if is_octopus_404(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/{space}/packages/raw?overwriteMode=IgnoreIfExists`, one multipart `file`
    /// part. Returns the status: 201 pushed, 200 already there.
    pub fn upload_package(&self, space: &str, file_name: &str, bytes: &[u8]) -> Result<u16> {
        if bytes
            .windows(MULTIPART_BOUNDARY.len())
            .any(|w| w == MULTIPART_BOUNDARY.as_bytes())
        {
            bail!(
                "the package {file_name} contains the text that separates the parts of the upload ({MULTIPART_BOUNDARY}); upload it by hand in Library > Packages"
            );
        }
        let mut body = format!(
            "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
        let path = format!(
            "/api/{}/packages/raw?overwriteMode=IgnoreIfExists",
            encode(space)
        );
        let label = format!("POST /api/{space}/packages/raw");
        let reply = self.transport.exchange(
            Method::Post,
            &self.server().url(&path),
            &label,
            Some(Body::multipart(&body)),
        )?;
        Ok(reply.status)
    }

    /// `GET /api/{space}/actiontemplates?partialName=`, every page: the templates whose name
    /// contains `name` (the caller matches it exactly).
    pub fn action_templates(&self, space: &str, name: &str) -> Result<Vec<Value>> {
        let label = format!("GET /api/{space}/actiontemplates");
        self.all_pages(&label, |skip| {
            format!(
                "/api/{}/actiontemplates?partialName={}&skip={skip}&take={PAGE_SIZE}",
                encode(space),
                encode(name)
            )
        })
    }

    /// `POST /api/{space}/actiontemplates`.
    pub fn create_action_template(&self, space: &str, template: &Value) -> Result<Value> {
        self.send(
            Method::Post,
            &format!("/api/{}/actiontemplates", encode(space)),
            template,
        )
    }

    /// `GET /api/{space}/actiontemplates/{id}/usage`: the steps that use the template.
    pub fn action_template_usage(&self, space: &str, id: &str) -> Result<Vec<Value>> {
        self.get(&format!(
            "/api/{}/actiontemplates/{}/usage",
            encode(space),
            encode(id)
        ))
    }

    /// `DELETE /api/{space}/actiontemplates/{id}` (refused while a step uses it).
    pub fn delete_action_template(&self, space: &str, id: &str) -> Result<()> {
        self.delete(&format!(
            "/api/{}/actiontemplates/{}",
            encode(space),
            encode(id)
        ))
    }

    /// `PUT /api/{space}/actiontemplates/{id}` (the server bumps `Version`).
    pub fn update_action_template(&self, space: &str, id: &str, template: &Value) -> Result<Value> {
        self.send(
            Method::Put,
            &format!("/api/{}/actiontemplates/{}", encode(space), encode(id)),
            template,
        )
    }
}
