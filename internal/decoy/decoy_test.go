package decoy

import (
	"fmt"
	"testing"
)

// A name always gets the same decoy, and names spread over the classes in
// proportion to their weights.
func TestSet(t *testing.T) {
	var s Set[string]
	if s.Len() != 0 {
		t.Fatal("zero Set not empty")
	}
	for range 3 {
		s.Add("cheap", "cheap-hash")
	}
	s.Add("dear", "dear-hash")
	s.Add("cheap", "another cheap hash") // counts; the first hash stays
	key := []byte("k")
	counts := map[string]int{}
	for i := range 10000 {
		name := fmt.Sprint("n", i)
		h := s.For(key, name)
		if s.For(key, name) != h {
			t.Fatalf("%s: two decoys", name)
		}
		counts[h]++
	}
	if got := float64(counts["cheap-hash"]) / 10000; got < 0.77 || got > 0.83 || counts["another cheap hash"] != 0 {
		t.Errorf("%v, want about 4:1", counts)
	}
}
