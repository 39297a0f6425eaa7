package policy

import (
	"fmt"
	"strings"
)

// Level is a permission level, as the newest MLflow's: NO_PERMISSIONS <
// READ < USE < EDIT < MANAGE.
type Level int

const (
	NoPermissions Level = iota
	Read
	Use
	Edit
	Manage
)

var levelNames = []string{"NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE"}

func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel reads a level name (case-insensitive).
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if strings.EqualFold(s, n) {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("%q: want NO_PERMISSIONS, READ, USE, EDIT or MANAGE", s)
}

// UnmarshalText lets YAML read a level by name.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Action is what a request does, in MLflow's terms.
type Action string

const (
	ActPublic        Action = "public"        // no credentials needed
	ActAuthenticated Action = "authenticated" // any logged-in user, NO_PERMISSIONS included
	ActRead          Action = "read"
	ActUse           Action = "use"
	ActCreate        Action = "create"
	ActUpdate        Action = "update"
	ActDelete        Action = "delete"
	ActManage        Action = "manage"
	ActAdmin         Action = "admin" // admins only
)

// Needs is the level an action needs; ok is false for public, admin and
// unknown actions, which levels do not decide.
func (a Action) Needs() (l Level, ok bool) {
	switch a {
	case ActAuthenticated:
		return NoPermissions, true
	case ActRead:
		return Read, true
	case ActUse:
		return Use, true
	case ActCreate, ActUpdate:
		return Edit, true
	case ActDelete, ActManage:
		return Manage, true
	}
	return 0, false
}
