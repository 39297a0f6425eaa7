// Package decoy picks the decoy hash a user store checks for a name it does
// not know, so that an unknown name costs what a real user's check costs.
package decoy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Class is one cost class of a store's hashes (scheme and cost) and how
// many users have it.
type Class struct {
	Name   string
	Weight float64
}

// Pick chooses a class for name by weighted rendezvous hashing over an
// HMAC of it under key: the choice follows the store's own mix of classes
// (class i with probability Weight_i / Σ Weight), cannot be predicted
// without the key, is the same for the same name, and for most names
// survives a reload that changes the mix a little. classes must not be
// empty.
func Pick(key []byte, name string, classes []Class) int {
	best, bestScore := 0, math.Inf(1)
	for i, c := range classes {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(c.Name))
		m.Write([]byte{0})
		m.Write([]byte(name))
		// u is uniform in (0, 1]; -ln(u)/weight is exponential with rate
		// weight, and the smallest falls on class i with probability
		// weight_i / Σ weight.
		u := (float64(binary.BigEndian.Uint64(m.Sum(nil))>>11) + 1) / (1 << 53)
		if score := -math.Log(u) / c.Weight; score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// Set is a store's decoys: the first hash of each cost class, weighted by
// how many users have that class. The zero value is empty and ready.
type Set[H any] struct {
	classes []Class
	hashes  []H
	index   map[string]int
}

// Add counts one user of class, keeping h as the class's decoy when it is
// the class's first.
func (s *Set[H]) Add(class string, h H) {
	i, ok := s.index[class]
	if !ok {
		if s.index == nil {
			s.index = make(map[string]int)
		}
		i = len(s.classes)
		s.index[class] = i
		s.classes = append(s.classes, Class{Name: class})
		s.hashes = append(s.hashes, h)
	}
	s.classes[i].Weight++
}

// Len is the number of classes.
func (s *Set[H]) Len() int { return len(s.classes) }

// For is name's decoy (see Pick). The set must not be empty.
func (s *Set[H]) For(key []byte, name string) H {
	return s.hashes[Pick(key, name, s.classes)]
}
