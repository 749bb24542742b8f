// Package testkit holds what the tests of several packages share: a server
// on a loopback port that is shut down when the test ends, and waits with a
// deadline (a condition polled until it holds, a value received from a
// channel).
//
// It imports nothing of rollcall's, so that the internal tests of any
// package (package server, package client, ...) can use it without an
// import cycle.
package testkit
