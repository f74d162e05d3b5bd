"""Live rooms, products and the room's shelf (小黄车) with its pinned product (讲解中)."""
