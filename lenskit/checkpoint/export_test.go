package checkpoint

import (
	"context"
	"time"
)

// SetRetrySleep replaces the wait before a hub retry, so that tests record
// the waits asked for instead of sleeping; it returns the restore function.
func SetRetrySleep(f func(ctx context.Context, d time.Duration) error) (restore func()) {
	old := retrySleep
	retrySleep = f
	return func() { retrySleep = old }
}
