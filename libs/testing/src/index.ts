// Helpers for tests only: real infrastructure on private ports, never mocks of it.
