"""One module per exchange feature, as strongSwan's libcharon tasks:
each turns request payloads into response payloads and state changes."""
