//go:build !linux

package main

func newWaiter() waiter { return sleepWaiter{} }
