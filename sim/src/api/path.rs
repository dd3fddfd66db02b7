//! How a request's path becomes the segments the API routes on: split at `/` without the
//! trailing one, and a space's resources under `/api/spaces/{spaceId}/...` read as
//! `/api/{spaceId}/...`, the two forms Octopus answers alike. The dispatcher and the
//! read-only check both route on these segments.

/// The segments of `path` (`/api/spaces/Spaces-1/runbooks` gives `api`, `Spaces-1`,
/// `runbooks`); `/api/spaces/{id}` itself, the space, keeps its `spaces`.
pub(super) fn segments(path: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if segments.len() > 3 && segments[0] == "api" && segments[1] == "spaces" {
        segments.remove(1);
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn a_space_resource_reads_the_same_under_api_spaces() {
        assert_eq!(
            segments("/api/spaces/Spaces-1/runbooks/Runbooks-1/"),
            ["api", "Spaces-1", "runbooks", "Runbooks-1"]
        );
        assert_eq!(
            segments("/api/Spaces-1/runbooks"),
            ["api", "Spaces-1", "runbooks"]
        );
        assert_eq!(
            segments("/api/spaces/Spaces-1"),
            ["api", "spaces", "Spaces-1"]
        );
    }
}
