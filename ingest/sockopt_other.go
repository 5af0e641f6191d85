//go:build !linux

package ingest

import "net"

// setReceiveBuffer sets the socket receive buffer to n bytes (capped by the
// system).
func setReceiveBuffer(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }
