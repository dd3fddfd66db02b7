//! The simulator's own checks: it answers in the real server's shapes and keeps its rules,
//! called over HTTP as any client would. One test binary, one module per feature.

mod support;

// Resources in the reference schemas' shapes.
mod schemas;
// Error bodies and the rules that choose 400, 401, 403 and 404.
mod errors;
// A buggy server that quotes the credential in its errors.
mod credential_echo;
// API keys: expiry, paging, partialPurpose, ownership, the shared broker account.
mod api_keys;
// API key access levels: the create body's AccessLevel, reads, read-only keys refused changes.
mod access_levels;
// OIDC access tokens: their lifetime, and the expiry of keys made with them.
mod access_tokens;
// Listings that never end or repeat, for every paged collection.
mod paging;
// The request log, the audit log and the events API.
mod audit;
// What the server says of itself: the authentication settings.
mod settings;
// Outages of the whole server: 503s, resets, a refused port, and their end.
mod outages;
// The server's clock: the Date header, a clock behind or ahead of the worker's.
mod clock;
// Server tasks and their states.
mod tasks;
// Projects, project groups, environments and tenants of a space; `/api/spaces/{id}/...`.
mod catalog;
// Teams (external groups, deletion) and their scoped grants (scopes kept, PUT, DELETE).
mod teams;
// Runbooks, their processes (Version, steps) and snapshots (freezing, publishing).
mod runbooks;
// Scheduled triggers of runbooks: published snapshots only, their filters, removal.
mod scheduled_triggers;
// Removal: usage of step templates and accounts, deletes refused while in use, OIDC identities.
mod removal;
// The Calamari emulation's service-message parser against Calamari's own answers.
mod calamari;
