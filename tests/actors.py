"""The actor of service calls that tests make directly, outside any request."""

from cloudpam.context import system_actor

TEST_ACTOR = system_actor("tests")
