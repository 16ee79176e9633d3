package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"herald"
	"herald/httpapi"
)

// TestOpenAPI sends real requests to every route of openapi.json and checks
// each answer against the document: its status is documented for that
// route, and its body validates against the documented schema (or is
// empty where none is). Every documented (route, status) must be hit.
func TestOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	v := &validator{doc: doc}
	v.checkKeywords(t, doc["components"].(map[string]any)["schemas"], "components.schemas")

	e := newEnv(t)
	u1 := token(t, herald.Identity{UserID: "u1"}, time.Hour)
	key := "Bearer " + apiKey
	var n1 herald.Notification
	create := func(body string) herald.Notification {
		w := e.backend("POST", "/v1/notifications", body)
		var res struct{ Notifications []herald.Notification }
		if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &res) != nil || len(res.Notifications) == 0 {
			t.Fatalf("create: %d %s", w.Code, w.Body)
		}
		return res.Notifications[0]
	}
	n1 = create(`{"userId":"u1","type":"info","title":"one","message":"m"}`)
	n2 := create(`{"userIds":["u1","u2"],"type":"info","title":"two","data":{"k":[1,2]},"groupKey":"g","expiresAt":"2999-01-01T00:00:00Z","idempotencyKey":"k2"}`)
	e.as(herald.Identity{UserID: "u1"}, "POST", "/v1/me/notifications/"+n2.ID+"/read") // so that a readAt is returned below
	big := `{"userId":"u1","type":"info","title":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`

	calls := []struct {
		route, method, path, authz, body string
	}{
		{"/v1/notifications", "post", "/v1/notifications", key, `{"userId":"u1","type":"info","title":"three"}`},
		{"/v1/notifications", "post", "/v1/notifications", key, `{"userId":"u1"}`},
		{"/v1/notifications", "post", "/v1/notifications", "", `{}`},
		{"/v1/notifications", "post", "/v1/notifications", key, big},
		{"/v1/emit", "post", "/v1/emit", key, `{"event":"data:updated","data":{"type":"x","data":1},"userId":"u1"}`},
		{"/v1/emit", "post", "/v1/emit", key, `{"event":"connect","userId":"u1"}`},
		{"/v1/emit", "post", "/v1/emit", "Bearer wrong", `{}`},
		{"/v1/emit", "post", "/v1/emit", key, `{"event":"e","broadcast":true,"data":{"x":"` + strings.Repeat("y", httpapi.DefaultMaxBodyBytes) + `"}}`},
		{"/v1/users/{userId}/presence", "get", "/v1/users/u1/presence?tenantId=t", key, ""},
		{"/v1/users/{userId}/presence", "get", "/v1/users/u1/presence?tenantId=" + strings.Repeat("t", herald.MaxIDBytes+1), key, ""},
		{"/v1/users/{userId}/presence", "get", "/v1/users/u1/presence", "", ""},
		{"/v1/stats", "get", "/v1/stats", key, ""},
		{"/v1/stats", "get", "/v1/stats", "", ""},
		{"/v1/nodes", "get", "/v1/nodes", key, ""},
		{"/v1/nodes", "get", "/v1/nodes", "", ""},
		{"/v1/me/notifications", "get", "/v1/me/notifications?limit=1", "Bearer " + u1, ""},
		{"/v1/me/notifications", "get", "/v1/me/notifications?limit=10&unread=false", "Bearer " + u1, ""},
		{"/v1/me/notifications", "get", "/v1/me/notifications?limit=0", "Bearer " + u1, ""},
		{"/v1/me/notifications", "get", "/v1/me/notifications", "Bearer not.a.jwt", ""},
		{"/v1/me/unread-count", "get", "/v1/me/unread-count", "Bearer " + u1, ""},
		{"/v1/me/unread-count", "get", "/v1/me/unread-count", "", ""},
		{"/v1/me/notifications/{id}/read", "post", "/v1/me/notifications/" + n1.ID + "/read", "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}/read", "post", "/v1/me/notifications/nope/read", "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}/read", "post", "/v1/me/notifications/nope/read", "", ""},
		{"/v1/me/notifications/read-all", "post", "/v1/me/notifications/read-all", "Bearer " + u1, ""},
		{"/v1/me/notifications/read-all", "post", "/v1/me/notifications/read-all", "", ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/" + n1.ID, "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/" + n1.ID, "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/x", "", ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/" + n2.ID, key, ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/" + n2.ID, key, ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/x", "", ""},
		{"/openapi.json", "get", "/openapi.json", "", ""},
	}
	hit := map[string]bool{}
	for _, c := range calls {
		var w *httptest.ResponseRecorder
		if c.route == "/openapi.json" {
			w = httptest.NewRecorder()
			httpapi.OpenAPIHandler().ServeHTTP(w, httptest.NewRequest("GET", c.path, nil))
		} else {
			w = e.do(strings.ToUpper(c.method), c.path, c.authz, c.body)
		}
		name := fmt.Sprintf("%s %s → %d", strings.ToUpper(c.method), c.route, w.Code)
		hit[fmt.Sprintf("%s %s %d", c.method, c.route, w.Code)] = true
		op, _ := v.at("paths", c.route, c.method).(map[string]any)
		if op == nil {
			t.Errorf("%s: route not in openapi.json", name)
			continue
		}
		resp, _ := v.resolve(v.at2(op, "responses", fmt.Sprint(w.Code))).(map[string]any)
		if resp == nil {
			t.Errorf("%s: status not documented; body %.200s", name, w.Body)
			continue
		}
		schema := v.at2(resp, "content", "application/json", "schema")
		if schema == nil {
			if w.Body.Len() != 0 {
				t.Errorf("%s: documented without a body, got %.200s", name, w.Body)
			}
			continue
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		var body any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Errorf("%s: body is not JSON: %v", name, err)
			continue
		}
		for _, err := range v.validate(schema, body, "body") {
			t.Errorf("%s: %s", name, err)
		}
	}
	var missed []string
	for route, ops := range doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			for status := range op.(map[string]any)["responses"].(map[string]any) {
				if k := fmt.Sprintf("%s %s %s", method, route, status); !hit[k] {
					missed = append(missed, k)
				}
			}
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("documented answers no request produced: %v", missed)
	}
}

// TestOpenAPIValidatorRejects makes sure the validator below can fail.
func TestOpenAPIValidatorRejects(t *testing.T) {
	var doc map[string]any
	json.Unmarshal(httpapi.OpenAPI, &doc)
	v := &validator{doc: doc}
	ref := map[string]any{"$ref": "#/components/schemas/Notification"}
	bad := []any{
		map[string]any{"id": "x"}, // required members missing
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1.5, "type": "t", "title": "t", "message": "", "data": nil, "status": "unread", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "gone", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "read", "createdAt": "yesterday", "readAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "read", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "expiresAt": nil, "extra": 1},
	}
	for i, b := range bad {
		if errs := v.validate(ref, b, "n"); len(errs) == 0 {
			t.Errorf("bad notification %d validated", i)
		}
	}
}

// validator checks JSON values against the subset of JSON Schema 2020-12
// that openapi.json uses: $ref to the document, type (one or a list),
// properties, required, additionalProperties: false, items, enum,
// minimum, minLength, maxLength, minItems, maxItems, format date-time.
// checkKeywords fails on any other keyword, so the document cannot
// silently use one that is not checked.
type validator struct{ doc map[string]any }

var (
	checkedKeywords    = []string{"$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "minLength", "maxLength", "minItems", "maxItems", "format"}
	annotationKeywords = []string{"description"}
	dateTime           = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
)

func (v *validator) checkKeywords(t *testing.T, schemas any, where string) {
	for name, s := range schemas.(map[string]any) {
		v.walk(t, s, where+"."+name)
	}
}

func (v *validator) walk(t *testing.T, s any, where string) {
	m, ok := s.(map[string]any)
	if !ok {
		t.Errorf("%s: schema is not an object", where)
		return
	}
	for k, sub := range m {
		switch {
		case k == "properties":
			for p, ps := range sub.(map[string]any) {
				v.walk(t, ps, where+"."+p)
			}
		case k == "items":
			v.walk(t, sub, where+"[]")
		case k == "format" && sub != "date-time":
			t.Errorf("%s: format %v is not checked", where, sub)
		case k == "additionalProperties" && sub != false:
			t.Errorf("%s: only additionalProperties: false is checked", where)
		case !slices.Contains(checkedKeywords, k) && !slices.Contains(annotationKeywords, k):
			t.Errorf("%s: keyword %q is not checked by the test's validator", where, k)
		}
	}
}

func (v *validator) at(path ...string) any { return v.at2(v.doc, path...) }

func (v *validator) at2(from any, path ...string) any {
	cur := from
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// resolve follows a $ref of the form #/a/b/c.
func (v *validator) resolve(s any) any {
	for {
		m, ok := s.(map[string]any)
		if !ok {
			return s
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return s
		}
		s = v.at(strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
}

func (v *validator) validate(schema, val any, where string) []string {
	s, _ := v.resolve(schema).(map[string]any)
	if s == nil {
		return []string{where + ": unresolvable schema"}
	}
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, where+": "+fmt.Sprintf(f, a...)) }
	if ty, ok := s["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(val)) && !(jsonType(val) == "integer" && slices.Contains(types, "number")) {
			fail("type %s, want %v (value %.80v)", jsonType(val), types, val)
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, val) {
		fail("%v is not one of %v", val, enum)
	}
	switch x := val.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				fail("member %q is required", r)
			}
		}
		for k, mv := range x {
			if ps, ok := props[k]; ok {
				errs = append(errs, v.validate(ps, mv, where+"."+k)...)
			} else if s["additionalProperties"] == false {
				fail("member %q is not in the schema", k)
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			fail("%d items, want at least %v", len(x), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			fail("%d items, want at most %v", len(x), n)
		}
		if is, ok := s["items"]; ok {
			for i, iv := range x {
				errs = append(errs, v.validate(is, iv, fmt.Sprintf("%s[%d]", where, i))...)
			}
		}
	case string:
		if n, ok := s["minLength"].(float64); ok && float64(len([]rune(x))) < n {
			fail("length %d, want at least %v", len([]rune(x)), n)
		}
		if n, ok := s["maxLength"].(float64); ok && float64(len([]rune(x))) > n {
			fail("length %d, want at most %v", len([]rune(x)), n)
		}
		if s["format"] == "date-time" && !dateTime.MatchString(x) {
			fail("%q is not an RFC 3339 date-time", x)
		}
	case float64:
		if n, ok := s["minimum"].(float64); ok && x < n {
			fail("%v is below the minimum %v", x, n)
		}
	}
	return errs
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	}
	return "unknown"
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }
