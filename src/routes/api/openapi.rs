//! The OpenAPI 3.1 document of `/api`, generated at start from the route table
//! (paths, methods, permissions) and from the response types (schemas, derived
//! with utoipa), so it describes exactly what is served.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::{ErrorDocument, ErrorMeta, ErrorObject, ErrorSource};
use super::resources::{
    AppointmentAttributes, AvailableSlotAttributes, EmployeeAttributes, GuestAttributes,
    InstallmentAttributes, Money, PaymentAttributes, ServiceAttributes, WorkingHoursAttributes,
};
use super::{Kind, routes};
use crate::domain::scopes::all_permissions;

/// The 400 of a route with an id in its path.
const INVALID_PATH: &str = "The path is invalid: not UTF-8, or a control character in the id";

fn schema<T: ToSchema>() -> (String, Value) {
    (
        T::name().into_owned(),
        serde_json::to_value(T::schema()).unwrap_or(Value::Null),
    )
}

fn attributes_schema(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "services" => "ServiceAttributes",
        "employees" => "EmployeeAttributes",
        "guests" => "GuestAttributes",
        "working_hours" => "WorkingHoursAttributes",
        "appointments" => "AppointmentAttributes",
        "available_slots" => "AvailableSlotAttributes",
        "installments" => "InstallmentAttributes",
        "payments" => "PaymentAttributes",
        _ => return None,
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/vnd.api+json": { "schema": schema_ref("ErrorDocument") } } })
}

fn resource_object(resource: &str) -> Value {
    let attributes =
        attributes_schema(resource).map_or_else(|| json!({ "type": "object" }), schema_ref);
    json!({
        "type": "object",
        "required": ["type", "id", "attributes"],
        "properties": {
            "type": { "type": "string", "const": resource },
            "id": { "type": "string" },
            "attributes": attributes,
            "relationships": { "type": "object" },
            "links": { "type": "object", "properties": { "self": { "type": "string" } } },
        },
    })
}

/// No control character (C0, DEL, C1): what every id and text field refuses.
const NO_CONTROL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// Text of one or more lines: tab, CR and LF allowed, other control characters not.
const TEXT: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";
/// A name: no control character, and something besides spaces.
const NAME: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// An id as a path segment, a cursor or a relationship takes it.
fn id_schema(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": NO_CONTROL })
}

fn request_document(resource: &str, create: bool) -> Value {
    let attributes = match resource {
        "appointments" => json!({ "type": "object", "properties": {
            "starts_at": { "type": "string", "format": "date-time", "description": "RFC 3339; in the future (at most two years ahead), within the employee's working hours" },
            "notes": { "type": "string", "maxLength": 1000, "pattern": TEXT },
        }, "required": if create { json!(["starts_at"]) } else { json!([]) } }),
        "guests" => json!({ "type": "object", "properties": {
            "first_name": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME },
            "last_name": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME },
            "email": { "type": ["string", "null"], "format": "email", "maxLength": 254 },
            "phone": { "type": ["string", "null"], "minLength": 1, "maxLength": 32, "pattern": "^[0-9 +().-]*[0-9+().-][0-9 +().-]*$" },
        }, "required": if create { json!(["first_name", "last_name"]) } else { json!([]) } }),
        _ => json!({ "type": "object" }),
    };
    let mut attributes = attributes;
    if resource == "guests" && create {
        attributes["properties"]["password"] = json!({ "type": "string", "writeOnly": true, "minLength": 12, "maxLength": 128,
            "description": "Write-only, on creation only: the guest signs in to the organization's Guest apps with email and this password. At least 12 characters, not easy to guess; needs email." });
    }
    let relationship = |kind: &str, nullable: bool| {
        let target = json!({ "type": "object", "required": ["type", "id"], "properties": {
            "type": { "type": "string", "const": kind }, "id": id_schema(64) } });
        let data = if nullable {
            json!({ "oneOf": [target, { "type": "null" }] })
        } else {
            target
        };
        json!({ "type": "object", "required": ["data"], "properties": { "data": data } })
    };
    let relationships = if resource == "appointments" {
        json!({ "type": "object", "properties": {
            "service": relationship("services", false),
            "employee": relationship("employees", false),
            "guest": relationship("guests", true) },
            "required": if create { json!(["service", "employee"]) } else { json!([]) } })
    } else {
        json!({ "type": "object" })
    };
    let mut data_required = vec!["type"];
    if !create {
        data_required.push("id");
    }
    if resource == "appointments" && create {
        data_required.extend(["attributes", "relationships"]);
    }
    if resource == "guests" && create {
        data_required.push("attributes");
    }
    let mut properties = json!({ "type": { "type": "string", "const": resource }, "attributes": attributes, "relationships": relationships });
    if !create {
        properties["id"] = id_schema(64);
    }
    json!({ "type": "object", "required": ["data"], "properties": { "data": {
        "type": "object", "required": data_required,
        "properties": properties,
    } } })
}

fn page_parameters() -> Value {
    json!([
        { "name": "page[size]", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 25 } },
        { "name": "page[after]", "in": "query", "description": "The id of the last item of the previous page", "schema": id_schema(200) },
    ])
}

/// A string parameter of an OAuth request.
fn oauth_string(description: &str, max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": NO_CONTROL, "description": description })
}

/// The operations of the OAuth endpoints (RFC 6749, 7009, 7662): form (or
/// JSON) parameters, the app's credentials by HTTP Basic or in the body, and
/// the standard's JSON errors.
fn oauth_operation(route: &super::ApiRoute) -> Value {
    let client = [
        (
            "client_id",
            oauth_string(
                "The Application ID, when not sent by HTTP Basic (client_secret_post)",
                64,
            ),
        ),
        (
            "client_secret",
            oauth_string(
                "The app's Secret, when not sent by HTTP Basic; a public app (External CMA, External Webstore, Bot) may leave it out for the authorization code and refresh grants and for revocation",
                256,
            ),
        ),
    ];
    let hint = json!({ "type": "string", "enum": ["access_token", "refresh_token"] });
    let (mut properties, required, ok) = match route.kind {
        Kind::Token => (
            json!({
                "grant_type": { "type": "string", "enum": ["authorization_code", "password", "refresh_token"] },
                "code": oauth_string("The code of the hosted sign-in's redirect (authorization code grant)", 128),
                "redirect_uri": oauth_string("The authorization request's redirect_uri, exactly (authorization code grant)", 2048),
                "code_verifier": oauth_string("The PKCE verifier of the request's code_challenge (RFC 7636; authorization code grant)", 128),
                "username": oauth_string("The user's email (password grant)", 254),
                "password": oauth_string("The user's password (password grant)", 1024),
                "refresh_token": oauth_string("The refresh token (refresh grant)", 64),
                "scope": oauth_string("Space-separated permissions, among the app's JWT GROUPS (default: all of them)", 4000),
            }),
            json!(["grant_type"]),
            json!({ "description": "A token pair (RFC 6749 §5.1); never cached", "content": { "application/json": { "schema": {
                "type": "object", "required": ["access_token", "token_type", "expires_in", "refresh_token", "scope"],
                "properties": {
                    "access_token": { "type": "string", "description": "A JWT (RFC 9068, EdDSA), verifiable with /.well-known/jwks.json" },
                    "token_type": { "type": "string", "const": "Bearer" },
                    "expires_in": { "type": "integer", "minimum": 0 },
                    "refresh_token": { "type": "string", "pattern": "^kwr_" },
                    "scope": { "type": "string" },
                    "id_token": { "type": "string", "description": "With the openid scope (authorization code grant): an OpenID Connect ID token, EdDSA" },
                } } } } }),
        ),
        Kind::Revoke => (
            json!({ "token": oauth_string("A refresh token or an access token", 8192), "token_type_hint": hint }),
            json!(["token"]),
            json!({ "description": "Revoked, or nothing to revoke (RFC 7009 §2.2)", "content": { "application/json": { "schema": { "type": "object" } } } }),
        ),
        _ => (
            json!({ "token": oauth_string("A refresh token or an access token", 8192), "token_type_hint": hint }),
            json!(["token"]),
            json!({ "description": "Whether the token is active, and what it carries (RFC 7662 §2.2)", "content": { "application/json": { "schema": {
                "type": "object", "required": ["active"],
                "properties": {
                    "active": { "type": "boolean" },
                    "token_type": { "type": "string" }, "scope": { "type": "string" },
                    "client_id": { "type": "string" }, "sub": { "type": "string" },
                    "user_type": { "type": "string" }, "exp": { "type": "integer" },
                    "iat": { "type": "integer" }, "iss": { "type": "string" },
                    "aud": { "type": "string" }, "jti": { "type": "string" }, "sid": { "type": "string" },
                } } } } }),
        ),
    };
    for (name, schema) in client {
        properties[name] = schema;
    }
    let body = json!({ "type": "object", "required": required, "properties": properties });
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": schema_ref("OAuthError") } } });
    json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "tags": ["tokens"],
        "requestBody": { "required": true, "content": {
            "application/x-www-form-urlencoded": { "schema": body },
            "application/json": { "schema": body },
        } },
        "responses": {
            "200": ok,
            "400": error("invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type or unsupported_token_type (RFC 6749 §5.2)"),
            "401": {
                "description": "invalid_client: the Application ID or Secret is wrong or missing (a public app may send client_id alone, except for the password grant and introspection)",
                "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
                "content": { "application/json": { "schema": schema_ref("OAuthError") } },
            },
            "429": error("Too many failed attempts: retry after Retry-After"),
            "503": error("temporarily_unavailable: retry after Retry-After"),
        },
        "security": [{ "client": [] }],
    })
}

/// A read answered with an `ETag`, and 304 to an `If-None-Match` naming it
/// (RFC 9110 §13.1.2).
fn conditional(parameters: &mut Vec<Value>, responses: &mut BTreeMap<&'static str, Value>) {
    parameters.push(json!({
        "name": "If-None-Match", "in": "header", "required": false,
        "description": "The ETags of answers already held (RFC 9110 §13.1.2): 304 without a body if one is still current; any other value gets the full answer",
        "schema": { "type": "string" },
    }));
    if let Some(ok) = responses.get_mut("200") {
        ok["headers"] = json!({ "ETag": {
            "description": "The answer's entity tag, for If-None-Match",
            "schema": { "type": "string" },
        } });
    }
    responses.insert(
        "304",
        json!({
            "description": "Not modified: the If-None-Match tag is still current",
            "headers": { "ETag": { "schema": { "type": "string" } } },
        }),
    );
}

fn operation(route: &super::ApiRoute) -> Value {
    if matches!(route.kind, Kind::Token | Kind::Revoke | Kind::Introspect) {
        return oauth_operation(route);
    }
    let secured = !matches!(route.kind, Kind::OpenApi);
    let mut responses = BTreeMap::new();
    let mut parameters: Vec<Value> = Vec::new();
    if route.path.contains("{id}") {
        parameters.push(
            json!({ "name": "id", "in": "path", "required": true, "schema": id_schema(200) }),
        );
    }
    let one = json!({ "content": { "application/vnd.api+json": { "schema": {
        "type": "object", "properties": { "data": resource_object(route.resource) } } } } });
    let mut request_body = Value::Null;
    match route.kind {
        Kind::List => {
            if let Some(list) = page_parameters().as_array() {
                parameters.extend(list.iter().cloned());
            }
            if route.resource == "available_slots" {
                parameters.push(json!({ "name": "filter[service]", "in": "query", "required": true, "schema": id_schema(64) }));
                parameters.push(json!({ "name": "filter[date]", "in": "query", "required": true, "schema": { "type": "string", "format": "date" } }));
            }
            responses.insert("200", json!({ "description": "A page of the collection", "content": { "application/vnd.api+json": { "schema": {
                "type": "object", "properties": {
                    "data": { "type": "array", "items": resource_object(route.resource) },
                    "links": { "type": "object", "properties": { "self": { "type": "string" }, "first": { "type": "string" }, "next": { "type": ["string", "null"] } } },
                } } } } }));
            responses.insert("400", error_response("A query parameter is invalid"));
            if route.resource == "available_slots" {
                responses.insert("404", error_response("No service with this id"));
            } else {
                conditional(&mut parameters, &mut responses);
            }
        }
        Kind::Read => {
            let mut ok = one.clone();
            ok["description"] = json!("The resource");
            responses.insert("200", ok);
            responses.insert("400", error_response(INVALID_PATH));
            responses.insert("404", error_response("No such resource"));
            if route.resource != "available_slots" {
                conditional(&mut parameters, &mut responses);
            }
        }
        Kind::Create | Kind::Update => {
            request_body = json!({ "required": true, "content": { "application/vnd.api+json": { "schema": request_document(route.resource, route.kind == Kind::Create) } } });
            let mut ok = one.clone();
            ok["description"] = json!(if route.kind == Kind::Create {
                "Created"
            } else {
                "Updated"
            });
            responses.insert(
                if route.kind == Kind::Create {
                    "201"
                } else {
                    "200"
                },
                ok,
            );
            responses.insert(
                "400",
                error_response(if route.kind == Kind::Create {
                    "The body is not a JSON:API document"
                } else {
                    "The body is not a JSON:API document, or the path is invalid"
                }),
            );
            responses.insert(
                "409",
                error_response("Wrong type or id, or the time is taken"),
            );
            responses.insert("415", error_response("Not application/vnd.api+json"));
            responses.insert(
                "422",
                error_response("Invalid attributes or relationships, each pointed at"),
            );
            if route.kind == Kind::Update {
                responses.insert("404", error_response("No such resource"));
            }
            if route.kind == Kind::Create {
                responses.insert("403", error_response("insufficient_permission, or client_generated_id: data.id was sent (the server assigns ids)"));
            }
        }
        Kind::Cancel => {
            let mut ok = one.clone();
            ok["description"] = json!("Cancelled");
            responses.insert("200", ok);
            responses.insert("400", error_response(INVALID_PATH));
            responses.insert("404", error_response("No such resource"));
        }
        Kind::AuthCheck => {
            let permissions: Vec<String> = all_permissions().map(|p| p.to_string()).collect();
            parameters.push(json!({ "name": "X-Required-Permission", "in": "header", "required": true, "description": "The permission the request must hold (a proxy sets it). A caller that cannot set headers may send `?permission=` instead; the header wins when both are sent.", "schema": { "type": "string", "enum": permissions } }));
            let header = |d: &str| json!({ "description": d, "schema": { "type": "string" } });
            responses.insert(
                "200",
                json!({ "description": "The credential holds the permission",
                "content": { "application/json": { "schema": { "type": "object",
                    "required": ["allowed", "permission", "app_id", "key_id", "user_id", "user_type"],
                    "properties": {
                        "allowed": { "type": "boolean", "const": true },
                        "permission": { "type": "string" },
                        "app_id": { "type": "string" },
                        "key_id": { "type": ["string", "null"], "description": "The API key; null for an access token" },
                        "user_id": { "type": ["string", "null"], "description": "The user of an access token; null for an API key" },
                        "user_type": { "type": ["string", "null"], "enum": ["employee", "guest", null] },
                    } } } },
                "headers": {
                "X-Keyward-App-Id": header("The credential's application"),
                "X-Keyward-Key-Id": header("The key (API keys only)"),
                "X-Keyward-User-Id": header("The user (access tokens only)"),
                "X-Keyward-User-Type": header("employee or guest (access tokens only)"),
                "X-Keyward-Permissions": header("The credential's permissions, space-separated"),
                "X-Keyward-Source-App": header("The application's Source App"),
                "RateLimit-Policy": header("A rate-limited key's windows: `\"per-second\";q=5;w=1, \"per-minute\";q=100;w=60` (draft-ietf-httpapi-ratelimit-headers §3)"),
                "RateLimit": header("What remains of each window and the seconds to its reset: `\"per-second\";r=4;t=1` (draft-ietf-httpapi-ratelimit-headers §4)"),
            } }),
            );
            responses.insert(
                "400",
                error_response("No or an unknown permission to check"),
            );
        }
        Kind::OpenApi => {
            responses.insert(
                "200",
                json!({ "description": "This document", "content": { "application/json": {} } }),
            );
        }
        Kind::PasswordChange => {
            request_body = json!({ "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["current_password", "new_password"],
                "properties": {
                    "current_password": { "type": "string", "minLength": 1, "maxLength": 1024 },
                    "new_password": { "type": "string", "minLength": 12, "maxLength": 128, "description": "At least 12 characters, not easy to guess" },
                } } } } });
            responses.insert(
                "204",
                json!({ "description": "Changed; the user's other sign-ins ended" }),
            );
            responses.insert("400", error_response("The body is not JSON"));
            responses.insert(
                "403",
                error_response("user_token_required: an API key cannot change a password"),
            );
            responses.insert("415", error_response("Not application/json"));
            responses.insert(
                "422",
                error_response(
                    "current_password_incorrect, or the new password breaks a rule (pointed at)",
                ),
            );
        }
        Kind::Token | Kind::Revoke | Kind::Introspect => {}
    }
    if secured {
        responses.insert("401", json!({
            "description": "missing_credentials, invalid_credentials, key_inactive, key_expired, key_rolled (a rolled key past its grace), app_inactive or app_draft",
            "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
            "content": { "application/vnd.api+json": { "schema": schema_ref("ErrorDocument") } },
        }));
        responses.insert(
            "402",
            error_response("payment_required: the organization's external connectivity is off; organization_suspended: the organization is suspended"),
        );
        responses
            .entry("403")
            .or_insert_with(|| {
                error_response(
                    "insufficient_permission, or ip_not_allowed: the key is not accepted from this address",
                )
            });
        responses.insert(
            "429",
            json!({
                "description": "rate_limited: the key's rate limit is used up (retry after Retry-After; RateLimit-Policy and RateLimit say its windows), or too_many_failures: too many invalid credentials from this client",
                "headers": {
                    "Retry-After": { "schema": { "type": "integer" } },
                    "RateLimit-Policy": { "schema": { "type": "string" } },
                    "RateLimit": { "schema": { "type": "string" } },
                },
                "content": { "application/vnd.api+json": { "schema": schema_ref("ErrorDocument") } },
            }),
        );
        responses.insert(
            "503",
            error_response(
                "service_unavailable: the credential could not be checked; retry after Retry-After",
            ),
        );
    }
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "tags": [route.path.split('/').nth(2).unwrap_or("api")],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(permission) = route.permission {
        op["description"] = json!(format!("Requires the `{permission}` permission."));
        op["x-keyward-permission"] = json!(permission.to_string());
    }
    if secured {
        op["security"] = json!([{ "apikey": [] }, { "bearer": [] }]);
    }
    if !request_body.is_null() {
        op["requestBody"] = request_body;
    }
    op
}

fn operation_id(route: &super::ApiRoute) -> String {
    format!(
        "{}_{}",
        route.method.as_str().to_lowercase(),
        route
            .path
            .trim_start_matches("/api/")
            .replace(['/', '{', '}'], "_")
            .trim_matches('_')
    )
}

/// OpenAPI 3.1 §4.8.20 links: from a created resource, and from the first item of
/// a page, to each operation on that one resource (`{collection}/{id}…`).
fn links(route: &super::ApiRoute) -> Option<(&'static str, Value)> {
    let (status, id) = match route.kind {
        Kind::Create => ("201", "$response.body#/data/id"),
        Kind::List => ("200", "$response.body#/data/0/id"),
        _ => return None,
    };
    let prefix = format!("{}/{{id}}", route.path);
    let links: serde_json::Map<String, Value> = routes()
        .filter(|other| other.path.starts_with(&prefix))
        .map(|other| {
            let id_of = operation_id(other);
            (
                id_of.clone(),
                json!({ "operationId": id_of, "parameters": { "id": id } }),
            )
        })
        .collect();
    (!links.is_empty()).then_some((status, Value::Object(links)))
}

/// One operation of the management API: an admin API token with the
/// route's scope, JSON:API-like documents, the same error documents.
fn manage_operation(route: &super::manage::ManageRoute) -> Value {
    use actix_web::http::Method;
    let parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": id_schema(64) }))
        .chain(
            (route.method == Method::POST)
                .then(|| json!({ "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "A retry with the same key and body gets the first answer again (kept a day) instead of a second change",
                    "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" } })),
        )
        .collect();
    let document = json!({ "type": "object", "properties": {
        "data": { "type": "object" },
        "included": { "type": "array", "items": { "type": "object" } },
        "meta": { "type": "object", "description": "A created app's `secret` or a created or rolled key's `token`, shown in this answer only" },
        "links": { "type": "object" },
    } });
    let success = match (route.method.as_str(), route.path.ends_with("/roll")) {
        ("DELETE", _) => ("204", json!({ "description": "Done" })),
        ("POST", true) => (
            "201",
            json!({ "description": "The new key", "content": { "application/vnd.api+json": { "schema": document.clone() } } }),
        ),
        ("POST", false) if !route.path.ends_with("activate") => (
            "201",
            json!({ "description": "Created", "content": { "application/vnd.api+json": { "schema": document.clone() } } }),
        ),
        _ => (
            "200",
            json!({ "description": "The resource", "content": { "application/vnd.api+json": { "schema": document.clone() } } }),
        ),
    };
    let mut responses = serde_json::Map::new();
    responses.insert(success.0.to_owned(), success.1);
    for (code, text) in [
        (
            "400",
            "invalid_json, invalid_document, a bad query parameter or Idempotency-Key",
        ),
        (
            "401",
            "missing_credentials, invalid_token or token_expired: send a live admin API token",
        ),
        (
            "403",
            "insufficient_scope: the token lacks the scope, or its admin is not a full-access admin (apps and keys)",
        ),
        (
            "404",
            "not_found: nothing with this id in the token's organization",
        ),
        ("405", "method_not_allowed"),
        (
            "409",
            "A state that does not allow it (key_limit, key_active, app_has_keys, name_taken…), type_mismatch, or idempotency_key_in_use",
        ),
        ("413", "payload_too_large"),
        (
            "415",
            "unsupported_media_type: send application/vnd.api+json or application/json",
        ),
        (
            "422",
            "A value that breaks a rule, pointed at by source.pointer, or idempotency_key_reused",
        ),
        ("503", "service_unavailable"),
    ] {
        responses.insert(code.to_owned(), error_response(text));
    }
    let mut op = json!({
        "operationId": format!("{}_{}", route.method.as_str().to_lowercase(),
            route.path.trim_start_matches("/api/").replace(['/', '{', '}'], "_").trim_matches('_')),
        "summary": route.summary,
        "description": format!("Requires an admin API token with the `{}` scope.", route.scope.as_str()),
        "tags": ["manage"],
        "parameters": parameters,
        "responses": responses,
        "security": [{ "adminToken": [route.scope.as_str()] }],
        "x-keyward-scope": route.scope.as_str(),
    });
    if matches!(route.method.as_str(), "PATCH")
        || (route.method == Method::POST && !route.path.ends_with("activate"))
    {
        op["requestBody"] = json!({ "required": true, "content": {
            "application/vnd.api+json": { "schema": document.clone() },
            "application/json": { "schema": document },
        } });
    }
    op
}

/// One operation of the operator API: an operator API token (read-write for
/// a change), JSON:API-like documents, the same error documents.
fn operator_operation(route: &super::operator::OperatorRoute) -> Value {
    use actix_web::http::Method;
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(
            |name| json!({ "name": name, "in": "path", "required": true, "schema": id_schema(64) }),
        )
        .collect();
    if route.method == Method::GET && !route.path.ends_with('}') {
        parameters.extend([
            json!({ "name": "filter[q]", "in": "query", "required": false, "description": "Only organizations whose name or slug contains this", "schema": { "type": "string", "maxLength": 100 } }),
            json!({ "name": "page[size]", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } }),
            json!({ "name": "page[after]", "in": "query", "required": false, "description": "The last id of the page before, as links.next gives it", "schema": id_schema(64) }),
        ]);
    }
    let mut attributes = json!({ "type": "object", "additionalProperties": false, "properties": {
        "name": { "type": "string", "minLength": 1, "maxLength": 100 },
        "slug": { "type": "string", "pattern": "^[a-z][a-z0-9-]{1,39}$", "description": "2 to 40 lower-case letters, digits and single hyphens, starting with a letter: the issuer is <public URL>/o/<slug>" },
        "time_zone": { "type": "string", "description": "An IANA time zone, UTC by default" },
        "first_admin_email": { "type": "string", "format": "email", "description": "Invited by email as the first admin, with full access" },
        "external_connectivity": { "type": "boolean", "description": "Whether its keys and tokens may call the API (else 402); off unless given" },
        "max_apps": { "type": ["integer", "null"], "minimum": 1, "maximum": 100000, "description": "null: no limit" },
        "max_keys_per_app": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 20 },
        "max_rate_per_second": { "type": ["integer", "null"], "minimum": 1, "maximum": 1000000, "description": "The ceiling of every key's rate; null: none" },
    } });
    let document = json!({ "type": "object", "properties": {
        "data": { "type": "object" },
        "meta": { "type": "object" },
        "links": { "type": "object" },
    } });
    let created = route.method == Method::POST && route.path.ends_with("organizations");
    if created {
        attributes["required"] = json!(["name", "slug", "first_admin_email"]);
    } else if let Some(properties) = attributes["properties"].as_object_mut() {
        // A change touches the subscription only.
        properties.retain(|name, _| {
            matches!(
                name.as_str(),
                "external_connectivity" | "max_apps" | "max_keys_per_app" | "max_rate_per_second"
            )
        });
    }
    let (status, description) = if created {
        ("201", "Created; its first admin was invited")
    } else {
        ("200", "The organization")
    };
    let mut responses = serde_json::Map::new();
    responses.insert(
        status.to_owned(),
        json!({ "description": description, "content": { "application/vnd.api+json": { "schema": document } } }),
    );
    for (code, text) in [
        (
            "400",
            "invalid_json, invalid_document or a bad query parameter",
        ),
        (
            "401",
            "missing_credentials, invalid_token or token_expired: send a live operator API token",
        ),
        ("403", "insufficient_scope: the token may only read"),
        ("404", "not_found: no organization with this id"),
        ("405", "method_not_allowed"),
        ("409", "type_mismatch or id_mismatch"),
        ("413", "payload_too_large"),
        (
            "415",
            "unsupported_media_type: send application/vnd.api+json or application/json",
        ),
        (
            "422",
            "A value that breaks a rule (slug_taken, admin_exists…), pointed at by source.pointer",
        ),
        ("503", "service_unavailable"),
    ] {
        responses.insert(code.to_owned(), error_response(text));
    }
    let access = if route.write { "write" } else { "read" };
    let mut op = json!({
        "operationId": format!("{}_{}", route.method.as_str().to_lowercase(),
            route.path.trim_start_matches("/api/").replace(['/', '{', '}'], "_").trim_matches('_')),
        "summary": route.summary,
        "description": format!("Requires an operator API token{}.", if route.write { " that may read and change" } else { "" }),
        "tags": ["operator"],
        "parameters": parameters,
        "responses": responses,
        "security": [{ "operatorToken": [access] }],
    });
    if route.method == Method::PATCH || created {
        let body = json!({ "type": "object", "required": ["data"], "properties": {
            "data": { "type": "object", "required": ["type"], "properties": {
                "type": { "const": "organizations" },
                "id": { "type": "string" },
                "attributes": attributes,
            } },
        } });
        op["requestBody"] = json!({ "required": true, "content": {
            "application/vnd.api+json": { "schema": body.clone() },
            "application/json": { "schema": body },
        } });
    }
    op
}

/// Builds the document.
pub fn build() -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes() {
        let mut op = operation(route);
        if let Some((status, links)) = links(route) {
            op["responses"][status]["links"] = links;
        }
        paths
            .entry(route.path.to_owned())
            .or_default()
            .insert(route.method.as_str().to_lowercase(), op);
    }
    for route in super::manage::ROUTES {
        paths.entry(route.path.to_owned()).or_default().insert(
            route.method.as_str().to_lowercase(),
            manage_operation(route),
        );
    }
    for route in super::operator::ROUTES {
        paths.entry(route.path.to_owned()).or_default().insert(
            route.method.as_str().to_lowercase(),
            operator_operation(route),
        );
    }
    let schemas: BTreeMap<String, Value> = [
        schema::<Money>(),
        schema::<ServiceAttributes>(),
        schema::<EmployeeAttributes>(),
        schema::<GuestAttributes>(),
        schema::<WorkingHoursAttributes>(),
        schema::<AppointmentAttributes>(),
        schema::<AvailableSlotAttributes>(),
        schema::<InstallmentAttributes>(),
        schema::<PaymentAttributes>(),
        schema::<ErrorDocument>(),
        schema::<ErrorObject>(),
        schema::<ErrorSource>(),
        schema::<ErrorMeta>(),
        (
            "OAuthError".to_owned(),
            json!({ "type": "object", "required": ["error", "error_description"], "properties": {
                "error": { "type": "string", "description": "RFC 6749 §5.2's code, e.g. invalid_grant" },
                "error_description": { "type": "string" },
            } }),
        ),
        ("WebhookEvent".to_owned(), webhook_event_schema()),
    ]
    .into_iter()
    .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Keyward API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The credential check for reverse proxies and the business platform's resources as JSON:API. \
                Send an API key as `Authorization: apikey <key>` or `Authorization: Bearer <key>`. \
                Errors are JSON:API error documents with a stable `code`.",
        },
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apikey": { "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`apikey <key>`: the key as shown once when it was created (kw_…)" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "`Bearer <key>` or `Bearer <access token>`" },
                "client": { "type": "http", "scheme": "basic", "description": "The app's Application ID and Secret (RFC 6749 §2.3.1); or client_id and client_secret in the body" },
                "adminToken": { "type": "http", "scheme": "bearer", "description": "`Bearer kwa_…`: an admin API token (My account → API tokens), for the management API under /api/v1/manage" },
                "operatorToken": { "type": "http", "scheme": "bearer", "description": "`Bearer kwo_…`: an operator API token (operator console → API tokens), for the operator API under /api/v1/operator" },
            },
        },
    })
}

/// The events Keyward POSTs to webhook endpoints (OpenAPI 3.1 `webhooks`),
/// each signed per the Standard Webhooks specification.
fn webhooks() -> Value {
    use crate::domain::webhook::EventType;
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": { "type": "string" } });
    let events = EventType::SUBSCRIBABLE
        .iter()
        .copied()
        .chain([EventType::Test])
        .map(|event| {
            let body = json!({
                "allOf": [
                    schema_ref("WebhookEvent"),
                    { "type": "object", "properties": { "type": { "const": event.as_str() } } },
                ],
            });
            (
                event.as_str().to_owned(),
                json!({ "post": {
                    "summary": event.description(),
                    "operationId": format!("webhook_{}", event.as_str().replace('.', "_")),
                    "parameters": [
                        header("webhook-id", "The event's id (`msg_…`), the same on every attempt: drop repeats by it"),
                        header("webhook-timestamp", "Unix seconds of this attempt"),
                        header("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the endpoint's secret; two, separated by a space, during a roll's grace"),
                    ],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                    "responses": {
                        "2XX": { "description": "Received: not sent again" },
                        "default": { "description": "Anything else (or no answer within 10 seconds) is retried on the schedule" },
                    },
                } }),
            )
        })
        .collect::<serde_json::Map<String, Value>>();
    Value::Object(events)
}

fn webhook_event_schema() -> Value {
    let named = json!({ "type": "object", "properties": { "id": { "type": "string" }, "name": { "type": "string" } } });
    json!({
        "type": "object",
        "description": "A webhook event (payload version 1: fields may be added, none removed or retyped). Never holds a key, secret or password.",
        "required": ["id", "type", "version", "timestamp", "organization_id", "data"],
        "properties": {
            "id": { "type": "string", "description": "msg_…, equal to the webhook-id header" },
            "type": { "type": "string" },
            "version": { "type": "integer", "const": crate::services::webhooks::PAYLOAD_VERSION },
            "timestamp": { "type": "string", "format": "date-time" },
            "organization_id": { "type": "string" },
            "data": {
                "type": "object",
                "properties": {
                    "app": { "allOf": [named, { "type": "object", "properties": {
                        "status": { "type": "string", "enum": ["draft", "active", "inactive"] },
                        "source_app": { "type": "string" },
                    } }] },
                    "key": { "allOf": [named, { "type": "object", "properties": {
                        "masked": { "type": "string", "description": "The key's public prefix and last four characters" },
                        "active": { "type": "boolean" },
                        "expires_at": { "type": ["string", "null"], "format": "date-time" },
                    } }] },
                    "actor": { "type": "object", "properties": {
                        "type": { "type": "string", "enum": ["admin", "system"] },
                        "id": { "type": ["string", "null"] },
                        "label": { "type": "string" },
                    } },
                    "changes": { "type": "object", "description": "What changed, as the audit trail records it: {field: {from, to}}" },
                    "threshold_days": { "type": "integer", "description": "key.expiring: the alert threshold reached" },
                    "expires_at": { "type": "string", "format": "date-time", "description": "key.expiring and key.expired" },
                },
            },
        },
    })
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| build().to_string());

/// `GET /api/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(super::error::JSON_UTF8)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(DOCUMENT.as_str())
}
