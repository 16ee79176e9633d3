package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of this API (openapi.json beside
// this file). TestOpenAPI checks every route's real answers against it.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIHandler serves OpenAPI, for GET /openapi.json. Any origin may read
// it: it holds nothing secret.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Access-Control-Allow-Origin", "*")
		w.Write(OpenAPI)
	})
}
