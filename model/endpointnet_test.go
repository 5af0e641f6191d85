package model

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseEndpointNetworks(t *testing.T) {
	cases := []struct {
		name, in, want, errSays string
	}{
		{"Empty", "", "", ""},
		{"Blank", "  ", "", ""},
		{"TwoNetworks", "10.0.0.0/8, 2001:db8::/32", "10.0.0.0/8,2001:db8::/32", ""},
		{"BareAddress", "192.0.2.7", "192.0.2.7/32", ""},
		{"Everything", "0.0.0.0/0,::/0", "0.0.0.0/0,::/0", ""},
		{"HostBitsSet", "10.1.2.3/8", "", "did you mean 10.0.0.0/8"},
		{"NotANetwork", "intranet", "", `"intranet" is not a network in CIDR form`},
		{"BadLength", "10.0.0.0/33", "", "not a network"},
		{"EmptyItem", "10.0.0.0/8,,192.168.0.0/16", "", "empty network"},
		{"TrailingComma", "10.0.0.0/8,", "", "empty network"},
		{"Zone", "fe80::1%eth0", "", "not a network"},
		{"MappedIPv4", "::ffff:10.0.0.0/104", "", "IPv4 form"},
		{"InsideLinkLocal", "169.254.0.0/16", "", "169.254.0.0/16 lies inside 169.254.0.0/16"},
		{"InsideLinkLocalSmaller", "169.254.169.0/24", "", "never point at"},
		{"MetadataAddress", "100.100.100.200", "", "Alibaba Cloud metadata"},
		{"IPv6LinkLocal", "fe80::/64", "", "IPv6 link-local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseEndpointNetworks(tc.in)
			if tc.errSays != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSays) {
					t.Fatalf("ParseEndpointNetworks(%q) = %v, %v; want an error saying %q", tc.in, n, err, tc.errSays)
				}
				return
			}
			if err != nil || n.String() != tc.want {
				t.Fatalf("ParseEndpointNetworks(%q) = %q, %v; want %q", tc.in, n, err, tc.want)
			}
		})
	}
}

func TestEndpointNetworksCheck(t *testing.T) {
	anywhere := EndpointNetworks{}
	intranet, err := ParseEndpointNetworks("10.0.0.0/8,2001:db8::/32,0.0.0.0/0")
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := ParseEndpointNetworks("10.0.0.0/8,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		n       EndpointNetworks
		addr    string
		errSays string // "" when allowed
	}{
		{"AnyPublic", anywhere, "192.0.2.10", ""},
		{"AnyLoopback", anywhere, "127.0.0.1", ""},
		{"AnyIPv6", anywhere, "2001:db8::1", ""},
		{"AWSMetadata", anywhere, "169.254.169.254", "169.254.0.0/16 (IPv4 link-local and cloud metadata) is never dialled"},
		{"TencentMetadata", anywhere, "169.254.0.23", "never dialled"},
		{"AWSMetadataIPv6", anywhere, "fd00:ec2::254", "AWS metadata"},
		{"AlibabaMetadata", anywhere, "100.100.100.200", "Alibaba"},
		{"AzureWireServer", anywhere, "168.63.129.16", "Azure WireServer"},
		{"OracleClassic", anywhere, "192.0.0.192", "Oracle"},
		{"IPv6LinkLocal", anywhere, "fe80::1", "IPv6 link-local"},
		{"IPv6LinkLocalZone", anywhere, "fe80::1%eth0", "IPv6 link-local"},
		{"MappedMetadata", anywhere, "::ffff:169.254.169.254", "address 169.254.169.254 not allowed"},
		{"NAT64Metadata", anywhere, "64:ff9b::a9fe:a9fe", "never dialled"},
		{"EverythingStillNotMetadata", intranet, "169.254.169.254", "never dialled"},
		{"NarrowInside", narrow, "10.20.30.40", ""},
		{"NarrowInsideIPv6", narrow, "2001:db8:1::5", ""},
		{"NarrowMappedInside", narrow, "::ffff:10.1.1.1", ""},
		{"NarrowOutside", narrow, "192.168.1.1", "address 192.168.1.1 not allowed by --endpoint-networks (10.0.0.0/8,2001:db8::/32)"},
		{"NarrowLoopback", narrow, "127.0.0.1", "not allowed by --endpoint-networks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.n.Check(netip.MustParseAddr(tc.addr))
			switch {
			case tc.errSays == "" && err != nil:
				t.Fatalf("Check(%s) = %v, want allowed", tc.addr, err)
			case tc.errSays != "" && (err == nil || !strings.Contains(err.Error(), tc.errSays)):
				t.Fatalf("Check(%s) = %v, want an error saying %q", tc.addr, err, tc.errSays)
			case err != nil && ErrorCode(err) != EINVALID:
				t.Fatalf("Check(%s) code %s, want %s", tc.addr, ErrorCode(err), EINVALID)
			}
		})
	}
	if err := narrow.CheckHost("intranet.example.test"); err != nil {
		t.Errorf("CheckHost of a name: %v, want nil (names are checked when dialled)", err)
	}
	if err := narrow.CheckHost(" 127.0.0.1 "); err == nil {
		t.Errorf("CheckHost of an address outside: nil")
	}
}
