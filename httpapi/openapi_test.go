package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"herald"
	"herald/httpapi"
	"herald/internal/pgtest"
	"herald/postgres"
)

// TestOpenAPI sends real requests to every route of openapi.json and checks
// each answer against the document: its status is documented for that
// route, its body validates against the documented schema (or is empty
// where none is), and its required headers are there. Every documented
// (route, status) must be hit. Besides the table, every route of
// httpapi.Routes is called on an API whose rate is used up (429), on one
// whose PostgreSQL store cannot be reached (503) and, for the /v1/me
// routes, from a browser origin that CORS refuses (403).
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
	limited := newEnv(t, func(c *httpapi.Config) { c.BackendRequestsPerSecond, c.UserRequestsPerSecond = 0.001, 0.001 }) // a burst of 1
	down := newStoreDownEnv(t)
	foreign := *e // as served, behind CORS, called from a page of another origin
	cors := httpapi.CORS([]string{"https://app.example"}, e.handler)
	foreign.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Origin", "https://elsewhere.example")
		cors.ServeHTTP(w, r)
	})
	u1 := token(t, herald.Identity{UserID: "u1"}, time.Hour)
	u2 := token(t, herald.Identity{UserID: "u2"}, time.Hour)
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
	n3 := create(`{"userId":"u1","type":"info","title":"three"}`)
	big := `{"userId":"u1","type":"info","title":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`
	bigIDs := `{"notificationIds":["` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"]}`

	type call struct{ route, method, path, authz, body string }
	calls := []call{
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
		{"/v1/presence/query", "post", "/v1/presence/query", key, `{"tenantId":"t","userIds":["u1","u2","u1"]}`},
		{"/v1/presence/query", "post", "/v1/presence/query", key, `{"userIds":[]}`},
		{"/v1/presence/query", "post", "/v1/presence/query", "", `{"userIds":["u1"]}`},
		{"/v1/presence/query", "post", "/v1/presence/query", key, `{"userIds":["` + strings.Repeat("u", httpapi.DefaultMaxBodyBytes) + `"]}`},
		{"/v1/stats", "get", "/v1/stats", key, ""},
		{"/v1/stats", "get", "/v1/stats", "", ""},
		{"/v1/nodes", "get", "/v1/nodes", key, ""},
		{"/v1/nodes", "get", "/v1/nodes", "", ""},
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
		{"/v1/me/notifications/read", "post", "/v1/me/notifications/read", "Bearer " + u1, `{"notificationIds":["` + n3.ID + `","nope"]}`},
		{"/v1/me/notifications/read", "post", "/v1/me/notifications/read", "Bearer " + u1, `{"notificationIds":[]}`},
		{"/v1/me/notifications/read", "post", "/v1/me/notifications/read", "", `{"notificationIds":["x"]}`},
		{"/v1/me/notifications/read", "post", "/v1/me/notifications/read", "Bearer " + u1, bigIDs},
		{"/v1/me/notifications/seen", "post", "/v1/me/notifications/seen", "Bearer " + u1, `{"notificationIds":["` + n3.ID + `"]}`},
		{"/v1/me/notifications/seen", "post", "/v1/me/notifications/seen", "Bearer " + u1, `{"all":true}`},
		{"/v1/me/notifications/seen", "post", "/v1/me/notifications/seen", "Bearer " + u1, `{"all":true,"notificationIds":["x"]}`},
		{"/v1/me/notifications/seen", "post", "/v1/me/notifications/seen", "Bearer not.a.jwt", `{"all":true}`},
		{"/v1/me/notifications/seen", "post", "/v1/me/notifications/seen", "Bearer " + u1, bigIDs},
		{"/v1/me/notifications", "get", "/v1/me/notifications?limit=10", "Bearer " + u1, ""}, // seenAt set
		{"/v1/me/notifications", "delete", "/v1/me/notifications", "Bearer " + u2, ""},
		{"/v1/me/notifications", "delete", "/v1/me/notifications", "", ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/" + n1.ID, "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/" + n1.ID, "Bearer " + u1, ""},
		{"/v1/me/notifications/{id}", "delete", "/v1/me/notifications/x", "", ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/" + n2.ID, key, ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/" + n2.ID, key, ""},
		{"/v1/notifications/{id}", "delete", "/v1/notifications/x", "", ""},
		{"/openapi.json", "get", "/openapi.json", "", ""},
	}
	type send struct {
		call
		on *env
	}
	var sends []send
	for _, c := range calls {
		sends = append(sends, send{c, e})
	}
	// Use up the burst of both credentials of limited, so that every
	// route answers 429; call every route on down and foreign too.
	limited.do("GET", "/v1/stats", key, "")
	limited.do("GET", "/v1/me/unread-count", "Bearer "+u1, "")
	validBody := map[string]string{ // so that a route reaches the store
		"POST /v1/notifications":         `{"userId":"u1","type":"info","title":"t"}`,
		"POST /v1/me/notifications/read": `{"notificationIds":["x"]}`,
		"POST /v1/me/notifications/seen": `{"all":true}`,
		"POST /v1/presence/query":        `{"userIds":["u1"]}`,
		"POST /v1/emit":                  `{"event":"e","userId":"u1"}`,
	}
	for _, pattern := range httpapi.Routes() {
		method, route := routeOf(pattern)
		path := strings.NewReplacer("{id}", "x", "{userId}", "u1").Replace(route)
		authz := key
		if strings.HasPrefix(route, "/v1/me/") {
			authz = "Bearer " + u1
		}
		envs := []*env{limited, down}
		if strings.HasPrefix(route, "/v1/me/") {
			envs = append(envs, &foreign)
		}
		for _, on := range envs {
			if on != nil {
				sends = append(sends, send{call{route, method, path, authz, validBody[pattern]}, on})
			}
		}
	}
	hit := map[string]bool{}
	for _, c := range sends {
		var w *httptest.ResponseRecorder
		if c.route == "/openapi.json" {
			w = httptest.NewRecorder()
			httpapi.OpenAPIHandler().ServeHTTP(w, httptest.NewRequest("GET", c.path, nil))
		} else {
			w = c.on.do(strings.ToUpper(c.method), c.path, c.authz, c.body)
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
		for header, h := range asMap(resp["headers"]) {
			got := w.Header().Get(header)
			if got == "" {
				if v.at2(h, "required") == true {
					t.Errorf("%s: header %s missing", name, header)
				}
				continue
			}
			var val any = got
			if n, err := strconv.Atoi(got); err == nil && v.at2(h, "schema", "type") == "integer" {
				val = float64(n)
			}
			for _, err := range v.validate(v.at2(h, "schema"), val, "header "+header) {
				t.Errorf("%s: %s", name, err)
			}
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
	if down == nil { // PostgreSQL not reachable outside CI (logged by pgtest)
		missed = slices.DeleteFunc(missed, func(k string) bool { return strings.HasSuffix(k, " 503") })
	}
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
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1.5, "type": "t", "title": "t", "message": "", "data": nil, "status": "unread", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "seenAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "gone", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "seenAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "read", "createdAt": "yesterday", "readAt": nil, "seenAt": nil, "expiresAt": nil},
		map[string]any{"id": "x", "userId": "u", "tenantId": "", "seq": 1, "type": "t", "title": "t", "message": "", "data": nil, "status": "read", "createdAt": "2026-01-01T00:00:00.000Z", "readAt": nil, "seenAt": nil, "expiresAt": nil, "extra": 1},
	}
	for i, b := range bad {
		if errs := v.validate(ref, b, "n"); len(errs) == 0 {
			t.Errorf("bad notification %d validated", i)
		}
	}
}

// TestOpenAPIDocumentsEveryRoute fails when httpapi serves a route that
// openapi.json does not document, or documents one that it does not serve.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct{ Paths map[string]map[string]any }
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	served := map[string]bool{"get /openapi.json": true} // served by OpenAPIHandler
	for _, pattern := range httpapi.Routes() {
		method, route := routeOf(pattern)
		served[method+" "+route] = true
		if doc.Paths[route][method] == nil {
			t.Errorf("%s is served but not in openapi.json", pattern)
		}
	}
	if len(served) < 2 {
		t.Fatalf("httpapi.Routes() = %v, want the API's routes", httpapi.Routes())
	}
	for route, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+route] {
				t.Errorf("%s %s is in openapi.json but not served", strings.ToUpper(method), route)
			}
		}
	}
}

// routeOf splits a ServeMux pattern "METHOD /path/{param}" into the
// OpenAPI method ("get") and path template.
func routeOf(pattern string) (method, route string) {
	method, route, _ = strings.Cut(pattern, " ")
	return strings.ToLower(method), route
}

// newStoreDownEnv returns an API on a real PostgreSQL store whose server
// cannot be reached any more: the store is opened through a loopback
// proxy, which is then shut, so that every store call fails to connect.
// It returns nil when PostgreSQL is not reachable and CI is not set (in CI
// that fails the test).
func newStoreDownEnv(t *testing.T) *env {
	reachable := false
	t.Run("PostgreSQL", func(t *testing.T) { pgtest.ServerURL(t); reachable = true })
	if !reachable {
		return nil
	}
	u, err := url.Parse(pgtest.SchemaURL(t, "httpapi"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	shut := func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(shut)
	server := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.DialTimeout("tcp", server, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			if closed {
				c.Close()
				s.Close()
			}
			mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	u.Host = ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := postgres.Open(ctx, u.String(), postgres.Options{ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnvOn(t, store)
	shut()
	return e
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

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
