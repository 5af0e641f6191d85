package ingest

import (
	"encoding/binary"
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

// receiveBuffer returns the receive buffer the kernel granted (it doubles
// what was asked, for its bookkeeping).
func receiveBuffer(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n, serr
}

// enableDropCounter asks the kernel to attach to each datagram the number
// of datagrams this socket dropped so far, for want of room in its
// receive buffer (SO_RXQ_OVFL); dropCount reads it.
func enableDropCounter(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// oobSize is the room for the control message enableDropCounter asks for.
var oobSize = syscall.CmsgSpace(4)

// dropCount reads the socket's drop counter from a datagram's control
// messages; ok is false when there is none (nothing dropped yet). The
// header is read field by field: its length field is as wide as a pointer.
func dropCount(oob []byte) (n uint32, ok bool) {
	const hdr = syscall.SizeofCmsghdr
	lenSize := hdr - 8 // Len, then Level and Type (int32 each)
	for len(oob) >= hdr {
		var l int
		if lenSize == 8 {
			l = int(binary.NativeEndian.Uint64(oob))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		if l < hdr || l > len(oob) {
			return 0, false
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		if level == syscall.SOL_SOCKET && typ == syscall.SO_RXQ_OVFL && l >= syscall.CmsgLen(4) {
			return binary.NativeEndian.Uint32(oob[syscall.CmsgLen(0):]), true
		}
		oob = oob[min(syscall.CmsgSpace(l-syscall.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}
