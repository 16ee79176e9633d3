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
	"time"
)

// apiClient calls the server's HTTP API for backend services (API key auth): the triggers of the
// scenarios and /v1/stats.
type apiClient struct {
	base   string
	apiKey string
	hc     *http.Client
}

func newAPIClient(base, apiKey string, conns int) *apiClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{
		base:   strings.TrimRight(base, "/"),
		apiKey: apiKey,
		hc:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// post sends a JSON body and fails unless the answer has the wanted status.
func (a *apiClient) post(ctx context.Context, path string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
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

func (a *apiClient) stats(ctx context.Context) (*ServerStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/v1/stats", nil)
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
