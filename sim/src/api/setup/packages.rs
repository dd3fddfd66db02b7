//! The built-in feed: `POST /api/{space}/packages/raw` (a multipart form with one `file`
//! part) and `GET /api/{space}/packages/{PackageId}.{Version}`. As on Octopus, id and
//! version come from the file name alone: the extension is stripped (`.tar.gz` counts as
//! one), then Octopus's own expression splits the rest, so `octopus-runkey.1.2.0.tar.gz` is
//! `octopus-runkey` 1.2.0 and `octopus-runkey-1.2.0.zip` is not. `overwriteMode` is
//! `FailIfExists` (the default: 409), `OverwriteExisting` (needs BuiltInFeedAdminister) or
//! `IgnoreIfExists` (200 with the package already there). Pushing needs BuiltInFeedPush,
//! reading FeedView.

use std::sync::OnceLock;

use jiff::Timestamp;
use regex::Regex;
use serde_json::{Value, json};

use super::input::require;
use crate::api::answer::{Answer, Change, done};
use crate::auth::Actor;
use crate::http::{Request, Response};
use crate::prepared::{Package, Space};
use crate::render::{error, invalid, not_found, octopus_date};
use crate::state::State;

/// The extensions the built-in feed takes, longest first so `.tar.gz` wins over `.gz`.
const EXTENSIONS: [&str; 7] = [
    ".tar.bz2", ".tar.gz", ".nupkg", ".tgz", ".tar", ".zip", ".jar",
];

/// Octopus's expression for `<id>.<version>` once the extension is gone.
fn id_and_version() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"^(?<id>\w+([_.-]\w+)*?)\.(?<version>\d+(\.\d+){0,3}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)$")
            .expect("Octopus's package file-name expression")
    })
}

/// (id, version, extension) of a package file name, as Octopus reads it.
pub fn parse_file_name(name: &str) -> Option<(String, String, String)> {
    let lower = name.to_ascii_lowercase();
    let extension = EXTENSIONS.iter().find(|ext| lower.ends_with(*ext))?;
    let stem = &name[..name.len() - extension.len()];
    let found = id_and_version().captures(stem)?;
    Some((
        found["id"].to_string(),
        found["version"].to_string(),
        extension.to_string(),
    ))
}

fn package_json(package: &Package) -> Value {
    json!({
        "Id": package.id,
        "PackageId": package.package_id,
        "Version": package.version,
        "FeedId": "feeds-builtin",
        "SpaceId": package.space_id,
        "FileExtension": package.file_extension,
        "PackageSizeBytes": package.bytes.len(),
        "Hash": fnv_hex(&package.bytes),
        "Published": octopus_date(package.published),
        "Title": package.package_id,
        "Summary": "",
        "Links": {"Self": format!("/api/{}/packages/{}", package.space_id, package.id)},
    })
}

/// A stand-in for the SHA-1 Octopus shows: stable for the same bytes, different for others.
fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

pub(super) fn one(state: &State, actor: &Actor, space: &Space, id: &str) -> Response {
    if let Err((response, _)) = require(actor, "FeedView") {
        return response;
    }
    let wanted = id.strip_prefix("packages-").unwrap_or(id);
    state
        .prepared
        .packages
        .iter()
        .find(|p| {
            p.space_id == space.id
                && format!("{}.{}", p.package_id, p.version).eq_ignore_ascii_case(wanted)
        })
        .map_or_else(|| not_found(id), |p| Response::json(200, &package_json(p)))
}

pub(super) fn upload(
    state: &mut State,
    actor: &Actor,
    request: &Request,
    space: &Space,
    now: Timestamp,
) -> Answer {
    if let Err(refused) = require(actor, "BuiltInFeedPush") {
        return refused;
    }
    let Some((file_name, bytes)) = file_part(request) else {
        return done(invalid(
            "No package file was found in the request: send a multipart form with a 'file' part.",
        ));
    };
    let Some((package_id, version, extension)) = parse_file_name(&file_name) else {
        return done(invalid(&format!(
            "The package file name '{file_name}' is not of the form <PackageId>.<Version>.<extension> with a supported extension (.zip, .tar.gz, .tgz, .tar, .tar.bz2, .nupkg, .jar)."
        )));
    };
    let mode = request
        .query("overwriteMode")
        .unwrap_or_else(|| "FailIfExists".to_string());
    let existing = state.prepared.packages.iter().position(|p| {
        p.space_id == space.id
            && p.package_id.eq_ignore_ascii_case(&package_id)
            && p.version == version
    });
    let package = Package {
        id: format!("packages-{package_id}.{version}"),
        space_id: space.id.clone(),
        package_id,
        version,
        file_extension: extension,
        bytes,
        published: now,
    };
    match (existing, mode.as_str()) {
        (Some(index), "IgnoreIfExists") => done(Response::json(
            200,
            &package_json(&state.prepared.packages[index]),
        )),
        (Some(_), "FailIfExists") => done(error(
            409,
            "A package with the same ID and version already exists. Please provide a new version or use the overwriteMode parameter.",
            &[],
        )),
        (Some(index), "OverwriteExisting") => {
            if let Err(refused) = require(actor, "BuiltInFeedAdminister") {
                return refused;
            }
            state.prepared.packages[index] = package.clone();
            stored(package, "replaced")
        }
        (None, "FailIfExists" | "OverwriteExisting" | "IgnoreIfExists") => {
            state.prepared.packages.push(package.clone());
            stored(package, "pushed")
        }
        _ => done(invalid(&format!(
            "'{mode}' is not an overwrite mode: use FailIfExists, OverwriteExisting or IgnoreIfExists."
        ))),
    }
}

fn stored(package: Package, how: &str) -> Answer {
    let change = Change {
        message: format!(
            "Package {} {} was {how} to the built-in feed",
            package.package_id, package.version
        ),
        related_document_ids: vec![package.id.clone()],
    };
    (Response::json(201, &package_json(&package)), Some(change))
}

/// The `file` part of a `multipart/form-data` body: (file name, bytes).
fn file_part(request: &Request) -> Option<(String, Vec<u8>)> {
    let content_type = request.header("Content-Type")?;
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return None;
    }
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let body = &request.body;
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&body[at..], &delimiter) {
        starts.push(at + found);
        at += found + delimiter.len();
    }
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n")?;
        let head_end = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_string();
        let content = &part[head_end + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        if !disposition.contains("name=\"file\"") {
            continue;
        }
        let file_name = disposition
            .split(';')
            .find_map(|p| p.trim().strip_prefix("filename="))?
            .trim_matches('"')
            .to_string();
        return Some((file_name, content.to_vec()));
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::parse_file_name;

    #[test]
    fn file_names_parse_as_octopus_reads_them() {
        let parsed = |n: &str| parse_file_name(n).map(|(id, v, e)| format!("{id} {v} {e}"));
        assert_eq!(
            parsed("octopus-runkey.1.2.0.tar.gz").as_deref(),
            Some("octopus-runkey 1.2.0 .tar.gz")
        );
        assert_eq!(
            parsed("octopus-runkey.0.1.0-rc.1.zip").as_deref(),
            Some("octopus-runkey 0.1.0-rc.1 .zip")
        );
        // The dash form parses, wrongly: another package id and version.
        assert_eq!(
            parsed("octopus-runkey-1.2.0.zip").as_deref(),
            Some("octopus-runkey-1 2.0 .zip")
        );
        assert_eq!(parsed("octopus-runkey.1.2.0.rar"), None);
    }
}
