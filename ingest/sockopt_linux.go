package ingest

import (
	"net"
	"syscall"
)

// setReceiveBuffer sets the socket receive buffer to n bytes. As root it
// uses SO_RCVBUFFORCE, which may exceed net.core.rmem_max; otherwise the
// kernel caps the size at rmem_max.
func setReceiveBuffer(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(n)
	}
	return nil
}
