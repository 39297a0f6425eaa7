package userfold

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "alice", "alice"},
		{"upper", "ALICE", "alice"},
		{"mixed", "aLiCe", "alice"},
		{"fullwidth", "\uff41lice", "alice"},
		{"fullwidth all", "ａｌｉｃｅ", "alice"},
		{"fullwidth upper", "\uff21LICE", "alice"},
		{"math bold", "\U0001D41Alice", "alice"},
		{"circled", "\u24D0lice", "alice"},
		{"capital I with dot", "AL\u0130CE", "alice"}, // OpenLDAP binds it as alice
		{"kelvin sign", "\u212Aate", "kate"},
		{"sharp s", "Stra\u00dfe", "strasse"},
		{"capital sharp s", "STRA\u1E9EE", "strasse"},
		{"final sigma", "\u039f\u03a3\u039f\u03c2", "\u03bf\u03c3\u03bf\u03c3"},
		{"ligature", "\ufb00", "ff"},
		{"nbsp around", "\u00a0alice\u00a0", "alice"},
		{"ideographic space inside", "a\u3000\u3000b", "a b"},
		{"tabs and newlines", "\ta\t\n b\r", "a b"},
		{"space runs", "  a   b  ", "a b"},
		{"line separator", "a\u2028b", "a b"},
		{"soft hyphen", "al\u00adice", "alice"},
		{"zero width space", "ali\u200bce", "alice"},
		{"byte order mark", "\ufeffalice", "alice"},
		{"variation selector", "alice\ufe0f", "alice"},
		{"control", "ali\x00ce\x7f", "alice"},
		{"composed and decomposed", "a\u0301", "\u00e1"},
		{"accent kept", "\u00e1lice", "\u00e1lice"},
		{"dotless i kept", "al\u0131ce", "al\u0131ce"},
		{"cyrillic kept", "alic\u0435", "alic\u0435"},
		{"invalid utf-8", "al\xffice", "al\ufffdice"},
		{"empty", "", ""},
		{"only spaces", " \u00a0 ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.in); got != tt.want {
				t.Errorf("Key(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKeyBounded(t *testing.T) {
	for _, in := range []string{strings.Repeat("A", 1<<20), strings.Repeat("\ufdfa", 1<<18), strings.Repeat("\u00df ", 1<<18)} {
		k := Key(in)
		if len(k) > MaxLen || Key(k) != k {
			t.Errorf("%d bytes in: %d bytes out, stable %v", len(in), len(k), Key(k) == k)
		}
	}
}

func TestKeyASCIIDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Key("alice.smith") }); n != 0 {
		t.Errorf("%v allocations for a name that is its key", n)
	}
}

// FuzzKey checks that a key is its own key, valid UTF-8, bounded, and free
// of the spaces Key removes.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"alice", "ＡLICE", "𝐚lice", "ⓐlice", "AL\u0130CE", " a  b ", "\u1e9e\u0345\u03a3", "\ufdfa", "\u0f77\u0f79", "a\u0344\u0301", "\xff\xfe", "ǅ", "\u2126\u212a\u212b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Key(s)
		if kk := Key(k); kk != k {
			t.Errorf("Key(%+q) = %+q, but Key of that is %+q", s, k, kk)
		}
		if !utf8.ValidString(k) || len(k) > MaxLen {
			t.Errorf("Key(%+q) = %+q: invalid or too long", s, k)
		}
		if strings.TrimSpace(k) != k || strings.Contains(k, "  ") {
			t.Errorf("Key(%+q) = %+q: spaces left", s, k)
		}
	})
}

func BenchmarkKey(b *testing.B) {
	for _, in := range []string{"alice", "Alice", "ａlice"} {
		b.Run(in, func(b *testing.B) {
			for b.Loop() {
				Key(in)
			}
		})
	}
}
