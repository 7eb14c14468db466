//go:build !linux

package rtsched

// Enable is only available on Linux: ErrUnsupported.
func Enable(priority int) error {
	if err := checkPriority(priority); err != nil {
		return err
	}
	return ErrUnsupported
}

// Policies is only available on Linux: ErrUnsupported.
func Policies(pid int) (map[int]Policy, error) {
	return nil, ErrUnsupported
}
