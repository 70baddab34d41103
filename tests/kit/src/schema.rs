//! Contract payloads checked against the JSON Schemas in `docs/schemas/`.
