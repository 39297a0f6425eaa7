package authreq

import "github.com/authreq/authreq/internal/userfold"

// Keys fold the user name as a directory matches it: "Alice", "ALICE",
// "ａlice" (fullwidth), "𝐚lice" (mathematical bold) and "ⓐlice" (circled)
// all bind as alice in OpenLDAP, so they must not each get their own
// failure budget for alice's password. A folded name holds no NUL, so the
// parts of a pair key cannot run into each other.
func pairKey(user, ip string) string { return "p\x00" + userfold.Key(user) + "\x00" + ip }
func ipKey(ip string) string         { return "i\x00" + ip }
func userKey(user string) string     { return "u\x00" + userfold.Key(user) }
