package parleytest

import "testing"

// conversationState returns the exported MLS state of c's only
// conversation.
func conversationState(t *testing.T, c *Client) []byte {
	t.Helper()
	convs, err := c.Profile().Conversations(Ctx(t))
	if err != nil || len(convs) != 1 {
		t.Fatalf("%s has %d conversations (%v), want 1", c.Handle, len(convs), err)
	}
	return convs[0].State
}
