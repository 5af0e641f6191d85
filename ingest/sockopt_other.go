//go:build !linux

package ingest

import "net"

// setReceiveBuffer sets the socket receive buffer to n bytes (capped by the
// system).
func setReceiveBuffer(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }

// receiveBuffer returns the receive buffer size: unknown here.
func receiveBuffer(c *net.UDPConn) (int, error) { return 0, nil }

// enableDropCounter does nothing: SO_RXQ_OVFL is Linux only.
func enableDropCounter(c *net.UDPConn) error { return nil }

var oobSize = 0

// dropCount finds no drop counter.
func dropCount(oob []byte) (uint32, bool) { return 0, false }
