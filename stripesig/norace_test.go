//go:build !race

package stripesig_test

const raceEnabled = false
