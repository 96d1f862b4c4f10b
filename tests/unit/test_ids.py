from corral.ids import new_id


def test_ids_carry_their_prefix_and_sort_in_creation_order():
    ids = [new_id("prj") for _ in range(2000)]
    assert all(i.startswith("prj_") and len(i) == 30 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
