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

fn request_document(resource: &str, create: bool) -> Value {
    let attributes = match resource {
        "appointments" => json!({ "type": "object", "properties": {
            "starts_at": { "type": "string", "format": "date-time", "description": "RFC 3339; in the future (at most two years ahead), within the employee's working hours" },
            "notes": { "type": "string", "maxLength": 1000 },
        }, "required": if create { json!(["starts_at"]) } else { json!([]) } }),
        "guests" => json!({ "type": "object", "properties": {
            "first_name": { "type": "string", "maxLength": 100 },
            "last_name": { "type": "string", "maxLength": 100 },
            "email": { "type": ["string", "null"], "format": "email" },
            "phone": { "type": ["string", "null"], "maxLength": 32 },
        }, "required": if create { json!(["first_name", "last_name"]) } else { json!([]) } }),
        _ => json!({ "type": "object" }),
    };
    let relationship = |kind: &str| {
        json!({ "type": "object", "properties": { "data": { "type": ["object", "null"], "properties": {
        "type": { "const": kind }, "id": { "type": "string" } } } } })
    };
    let relationships = if resource == "appointments" {
        json!({ "type": "object", "properties": {
            "service": relationship("services"), "employee": relationship("employees"), "guest": relationship("guests") } })
    } else {
        json!({ "type": "object" })
    };
    let mut data_required = vec!["type"];
    if !create {
        data_required.push("id");
    }
    json!({ "type": "object", "required": ["data"], "properties": { "data": {
        "type": "object", "required": data_required,
        "properties": { "type": { "const": resource }, "id": { "type": "string" }, "attributes": attributes, "relationships": relationships },
    } } })
}

fn page_parameters() -> Value {
    json!([
        { "name": "page[size]", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 25 } },
        { "name": "page[after]", "in": "query", "description": "The id of the last item of the previous page", "schema": { "type": "string" } },
    ])
}

fn operation(route: &super::ApiRoute) -> Value {
    let secured = !matches!(route.kind, Kind::OpenApi);
    let mut responses = BTreeMap::new();
    let mut parameters: Vec<Value> = Vec::new();
    if route.path.contains("{id}") {
        parameters.push(
            json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }),
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
                parameters.push(json!({ "name": "filter[service]", "in": "query", "required": true, "schema": { "type": "string" } }));
                parameters.push(json!({ "name": "filter[date]", "in": "query", "required": true, "schema": { "type": "string", "format": "date" } }));
            }
            responses.insert("200", json!({ "description": "A page of the collection", "content": { "application/vnd.api+json": { "schema": {
                "type": "object", "properties": {
                    "data": { "type": "array", "items": resource_object(route.resource) },
                    "links": { "type": "object", "properties": { "self": { "type": "string" }, "first": { "type": "string" }, "next": { "type": ["string", "null"] } } },
                } } } } }));
            responses.insert("400", error_response("A query parameter is invalid"));
        }
        Kind::Read => {
            let mut ok = one.clone();
            ok["description"] = json!("The resource");
            responses.insert("200", ok);
            responses.insert("400", error_response(INVALID_PATH));
            responses.insert("404", error_response("No such resource"));
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
        }
        Kind::Cancel => {
            let mut ok = one.clone();
            ok["description"] = json!("Cancelled");
            responses.insert("200", ok);
            responses.insert("400", error_response(INVALID_PATH));
            responses.insert("404", error_response("No such resource"));
        }
        Kind::AuthCheck => {
            parameters.push(json!({ "name": "X-Required-Permission", "in": "header", "schema": { "type": "string", "enum": all_permissions().map(|p| p.to_string()).collect::<Vec<_>>() } }));
            parameters.push(json!({ "name": "permission", "in": "query", "description": "Used when the header is absent", "schema": { "type": "string" } }));
            let header = |d: &str| json!({ "description": d, "schema": { "type": "string" } });
            responses.insert(
                "200",
                json!({ "description": "The credential holds the permission", "headers": {
                "X-Keyward-App-Id": header("The key's application"),
                "X-Keyward-Key-Id": header("The key"),
                "X-Keyward-Permissions": header("The key's permissions, space-separated"),
                "X-Keyward-Source-App": header("The application's Source App"),
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
    }
    if secured {
        responses.insert("401", json!({
            "description": "missing_credentials, invalid_credentials, key_inactive, key_expired or app_inactive",
            "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
            "content": { "application/vnd.api+json": { "schema": schema_ref("ErrorDocument") } },
        }));
        responses.insert(
            "402",
            error_response("payment_required: the organization's external connectivity is off"),
        );
        responses.insert("403", error_response("insufficient_permission"));
        responses.insert(
            "429",
            error_response("too_many_failures: too many invalid credentials from this client"),
        );
        responses.insert(
            "503",
            error_response(
                "service_unavailable: the credential could not be checked; retry after Retry-After",
            ),
        );
    }
    let mut op = json!({
        "operationId": format!("{}_{}", route.method.as_str().to_lowercase(), route.path.trim_start_matches("/api/").replace(['/', '{', '}'], "_").trim_matches('_')),
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

/// Builds the document.
pub fn build() -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes() {
        paths
            .entry(route.path.to_owned())
            .or_default()
            .insert(route.method.as_str().to_lowercase(), operation(route));
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
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apikey": { "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`apikey <key>`: the key as shown once when it was created (kw_…)" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "`Bearer <key>`" },
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
