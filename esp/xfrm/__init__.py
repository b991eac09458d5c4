"""Kernel XFRM over netlink: message classes on pyroute2's nlmsg/nla
(messages, structs), a plain request channel (netlink), typed states and
policies (model, sa, policy), expire notifications (expire), our-own-only
flush (flush), routes to virtual addresses (route), and a throw-away
network namespace for probing (netns)."""
