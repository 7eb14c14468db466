"""The generated gale.v1 code imports as a package and speaks the wire format."""

from gale.v1 import attach_pb2, attach_pb2_grpc, coordinator_pb2_grpc, value_pb2


def test_generated_modules_resolve_inside_the_gale_package():
    assert attach_pb2_grpc.AttachServiceStub is not None
    assert coordinator_pb2_grpc.CoordinatorServiceStub is not None


def test_attach_request_round_trip():
    req = attach_pb2.AttachRequest()
    e = req.emits.emits.add(stream="s", anchors=[1, 2**53 - 1])
    e.values.add(string_value="w")
    e.values.append(value_pb2.Value(int_value=-3))
    back = attach_pb2.AttachRequest.FromString(req.SerializeToString())
    assert back == req
    assert back.WhichOneof("frame") == "emits"
