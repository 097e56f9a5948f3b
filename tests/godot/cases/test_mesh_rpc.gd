## A 4-peer WebRTCMultiplayerPeerExtension mesh in one process: RPCs on the reliable,
## unreliable-ordered, unreliable and an extra channel, plus a 200 KiB reliable RPC.
extends "res://lib/mesh_rpc.gd"
