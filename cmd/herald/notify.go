package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runNotify creates a notification through POST /v1/notifications.
func runNotify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	url := fs.String("url", "http://localhost:"+env("PORT", "3000"), "herald base URL")
	key := fs.String("key", env("HERALD_API_KEY", ""), "API key (env HERALD_API_KEY)")
	user := fs.String("user", "", "user id; required")
	tenant := fs.String("tenant", "", "tenant id")
	title := fs.String("title", "", "title; required")
	message := fs.String("message", "", "message")
	typ := fs.String("type", "info", "notification type")
	data := fs.String("data", "", "JSON data attached to the notification")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || *title == "" {
		return errors.New("notify: --user and --title are required")
	}
	body := map[string]any{"userId": *user, "type": *typ, "title": *title, "message": *message}
	if *tenant != "" {
		body["tenantId"] = *tenant
	}
	if *data != "" {
		if !json.Valid([]byte(*data)) {
			return errors.New("notify: --data is not valid JSON")
		}
		body["data"] = json.RawMessage(*data)
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url+"/v1/notifications", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("notify: %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	fmt.Fprintf(out, "%s\n", bytes.TrimSpace(answer))
	return nil
}
