//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// apiClient calls the server's HTTP API for backend services (API key auth): the triggers of the
// scenarios and /v1/stats. With several nodes, calls go to them round robin.
type apiClient struct {
	bases  []string
	next   atomic.Uint64
	apiKey string
	hc     *http.Client
}

func newAPIClient(bases []string, apiKey string, conns int) *apiClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	a := &apiClient{
		apiKey: apiKey,
		hc:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
	for _, b := range bases {
		a.bases = append(a.bases, strings.TrimRight(b, "/"))
	}
	return a
}

// base is the node the next call goes to: round robin.
func (a *apiClient) base() string {
	return a.bases[(a.next.Add(1)-1)%uint64(len(a.bases))]
}

// post sends a JSON body and fails unless the answer has the wanted status.
func (a *apiClient) post(ctx context.Context, path string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base()+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+a.apiKey)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// ServerStats is the answer of GET /v1/stats.
type ServerStats struct {
	ConnectedUsers int64 `json:"connectedUsers"`
	Sockets        int64 `json:"sockets"`
}

// stats asks one node (base) for GET /v1/stats.
func (a *apiClient) stats(ctx context.Context, base string) (*ServerStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stats", nil)
	if err != nil {
		return nil, err
	}
	if a.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+a.apiKey)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/stats: %s", resp.Status)
	}
	var s ServerStats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("GET /v1/stats: %w", err)
	}
	return &s, nil
}
