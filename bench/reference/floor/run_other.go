//go:build !linux

package main

import "errors"

func run() error { return errors.New("the floor server runs on Linux only (it uses epoll)") }
