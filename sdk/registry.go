package sdk

import (
	"fmt"
	"sort"
	"sync"
)

// SpoutFactory makes a new spout instance, one per task.
type SpoutFactory func() Spout

// BoltFactory makes a new bolt instance, one per task.
type BoltFactory func() Bolt

var registry = struct {
	sync.RWMutex
	spouts map[string]SpoutFactory
	bolts  map[string]BoltFactory
}{spouts: map[string]SpoutFactory{}, bolts: map[string]BoltFactory{}}

// RegisterSpout makes a Go spout available to topologies under a class name
// (the `class:` of a YAML spout). Call it from an init function. It returns
// an error for an empty or duplicate name.
func RegisterSpout(class string, f SpoutFactory) error {
	registry.Lock()
	defer registry.Unlock()
	if err := checkClass(class, f != nil); err != nil {
		return err
	}
	registry.spouts[class] = f
	return nil
}

// RegisterBolt makes a Go bolt available to topologies under a class name.
func RegisterBolt(class string, f BoltFactory) error {
	registry.Lock()
	defer registry.Unlock()
	if err := checkClass(class, f != nil); err != nil {
		return err
	}
	registry.bolts[class] = f
	return nil
}

// MustRegisterSpout is RegisterSpout for init functions with fixed names:
// a duplicate name is a programming error in the binary.
func MustRegisterSpout(class string, f SpoutFactory) {
	if err := RegisterSpout(class, f); err != nil {
		panic(err)
	}
}

// MustRegisterBolt is RegisterBolt for init functions with fixed names.
func MustRegisterBolt(class string, f BoltFactory) {
	if err := RegisterBolt(class, f); err != nil {
		panic(err)
	}
}

func checkClass(class string, haveFactory bool) error {
	if class == "" {
		return fmt.Errorf("register component: empty class name")
	}
	if !haveFactory {
		return fmt.Errorf("register component %q: nil factory", class)
	}
	if _, ok := registry.spouts[class]; ok {
		return fmt.Errorf("register component %q: already registered as a spout", class)
	}
	if _, ok := registry.bolts[class]; ok {
		return fmt.Errorf("register component %q: already registered as a bolt", class)
	}
	return nil
}

// LookupSpout returns the factory registered under class.
func LookupSpout(class string) (SpoutFactory, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.spouts[class]
	return f, ok
}

// LookupBolt returns the factory registered under class.
func LookupBolt(class string) (BoltFactory, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.bolts[class]
	return f, ok
}

// RegisteredClasses lists the registered spout and bolt class names, sorted.
func RegisteredClasses() (spouts, bolts []string) {
	registry.RLock()
	defer registry.RUnlock()
	for k := range registry.spouts {
		spouts = append(spouts, k)
	}
	for k := range registry.bolts {
		bolts = append(bolts, k)
	}
	sort.Strings(spouts)
	sort.Strings(bolts)
	return spouts, bolts
}
