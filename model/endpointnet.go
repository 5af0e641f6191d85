package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// neverDialled are the addresses no endpoint may point at, whatever
// --endpoint-networks allows: link-local ranges, and the addresses where
// clouds serve instance metadata (credentials included) to whoever on the
// machine asks. Sources:
//   - 169.254.0.0/16: IPv4 link-local, RFC 3927. Holds 169.254.169.254, the
//     metadata service of AWS, Azure, Google Cloud, Oracle Cloud, OpenStack
//     and others (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html,
//     learn.microsoft.com/azure/virtual-machines/instance-metadata-service,
//     cloud.google.com/compute/docs/metadata/overview,
//     docs.oracle.com/iaas/Content/Compute/Tasks/gettingmetadata.htm), and
//     Tencent Cloud's 169.254.0.23.
//   - fe80::/10: IPv6 link-local, RFC 4291 §2.5.6.
//   - fd00:ec2::254: the AWS metadata service over IPv6 (the AWS page above).
//   - 100.100.100.200: Alibaba Cloud ECS metadata
//     (alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata).
//   - 168.63.129.16: Azure's WireServer, which serves VM configuration
//     (learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16).
//   - 192.0.0.192: Oracle Cloud Infrastructure Classic metadata
//     (docs.oracle.com/en/cloud/iaas-classic/compute-iaas-cloud/stcsg/retrieving-instance-metadata.html).
var neverDialled = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "IPv4 link-local and cloud metadata"},
	{netip.MustParsePrefix("fe80::/10"), "IPv6 link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "AWS metadata"},
	{netip.MustParsePrefix("100.100.100.200/32"), "Alibaba Cloud metadata"},
	{netip.MustParsePrefix("168.63.129.16/32"), "Azure WireServer"},
	{netip.MustParsePrefix("192.0.0.192/32"), "Oracle Cloud Classic metadata"},
}

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a9fe:a9fe
// reaches 169.254.169.254 through a NAT64 gateway.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// EndpointNetworks is where endpoints may point (--endpoint-networks): any
// address in the allowed networks (any address at all when none are set)
// except the never-dialled ranges above. The zero value allows any address
// outside those ranges.
type EndpointNetworks struct {
	allow []netip.Prefix
}

// ParseEndpointNetworks reads a comma-separated list of CIDR prefixes (a
// bare address is a prefix of one); "" allows any address outside the
// never-dialled ranges. A prefix with host bits set, or one that lies
// wholly inside a never-dialled range, is an error.
func ParseEndpointNetworks(s string) (EndpointNetworks, error) {
	var n EndpointNetworks
	if strings.TrimSpace(s) == "" {
		return n, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		var p netip.Prefix
		var err error
		if strings.Contains(part, "/") {
			p, err = netip.ParsePrefix(part)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(part); err == nil && a.Zone() != "" {
				err = fmt.Errorf("zoned address")
			} else if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		switch {
		case part == "":
			return n, fmt.Errorf("empty network in %q", s)
		case err != nil:
			return n, fmt.Errorf("%q is not a network in CIDR form such as 10.0.0.0/8 or 2001:db8::/32", part)
		case p.Addr().Is4In6():
			return n, fmt.Errorf("%q: write IPv4 networks in IPv4 form", part)
		case p != p.Masked():
			return n, fmt.Errorf("%q has bits set past the prefix length; did you mean %s?", part, p.Masked())
		}
		for _, nd := range neverDialled {
			if nd.prefix.Bits() <= p.Bits() && nd.prefix.Contains(p.Addr()) {
				return n, fmt.Errorf("%s lies inside %s (%s), which endpoints may never point at", p, nd.prefix, nd.what)
			}
		}
		n.allow = append(n.allow, p)
	}
	return n, nil
}

// String lists the allowed networks as the flag takes them; "" is any.
func (n EndpointNetworks) String() string {
	parts := make([]string, len(n.allow))
	for i, p := range n.allow {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Check says whether an endpoint may connect to addr: nil, or an EINVALID
// error naming the address and why it is refused.
func (n EndpointNetworks) Check(addr netip.Addr) error {
	addr = addr.WithZone("").Unmap()
	for _, a := range []netip.Addr{addr, embeddedNAT64(addr)} {
		for _, nd := range neverDialled {
			if a.IsValid() && nd.prefix.Contains(a) {
				return Errorf(EINVALID, "address %s not allowed by --endpoint-networks: %s (%s) is never dialled", addr, nd.prefix, nd.what)
			}
		}
	}
	if len(n.allow) == 0 {
		return nil
	}
	for _, p := range n.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	return Errorf(EINVALID, "address %s not allowed by --endpoint-networks (%s)", addr, n)
}

// CheckHost checks an endpoint's host when it is an IP address literal;
// host names are checked when they are resolved, on each dial.
func (n EndpointNetworks) CheckHost(host string) error {
	addr, err := netip.ParseAddr(strings.TrimSpace(host))
	if err != nil {
		return nil
	}
	return n.Check(addr)
}

// embeddedNAT64 returns the IPv4 address inside a NAT64 address, else the
// zero Addr.
func embeddedNAT64(a netip.Addr) netip.Addr {
	if !nat64.Contains(a) {
		return netip.Addr{}
	}
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[12:]))
}
